"""Shared helpers for the nnpkit benchmark scripts.

Import-light on purpose: nothing heavy (numpy, torch, ase, nnpkit) is imported at module
level, so a script can set ``OMP_NUM_THREADS`` and friends *before* those libraries load.

- :func:`machine_info`: CPU model, cores, library versions and thread settings, recorded
  in every result file.
- :func:`markdown_table`: rows of dicts to a GitHub markdown table for docs/benchmarks.md.
- :func:`time_calls`: wall-clock timing of a callable with warm-up calls.
- :func:`peak_rss_mib`: the process's peak resident set size, MiB (``ru_maxrss``);
  :func:`reset_peak_rss` and :func:`window_peak_rss_mib`: the peak over a window (Linux).
- :func:`train_bpnn`, :func:`copper_model`, :func:`ethanol_model`: a trained BPNN model
  file to benchmark (or the one the user passes with ``--model``).
- :func:`write_results`: the JSON file under ``benchmarks/out/``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import resource
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

BENCHMARK_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCHMARK_DIR / "out"

#: Environment variables that set library thread pools; recorded in :func:`machine_info`.
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                   "NUMBA_NUM_THREADS")


def set_thread_env(n_threads: int) -> None:
    """Set OpenMP/BLAS/numba thread-count variables; call before numpy, numba, torch,
    tblite, pyscf load."""
    for name in THREAD_ENV_VARS:
        os.environ[name] = str(n_threads)


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (Linux), else ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str | None:
    try:
        result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=BENCHMARK_DIR,
                                capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                           cwd=BENCHMARK_DIR, capture_output=True, text=True, timeout=10,
                           check=False).stdout.strip()
    return result.stdout.strip() + ("-dirty" if dirty else "")


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on: CPU, cores, versions, thread settings."""
    import ase
    import numpy
    import torch

    import nnpkit

    try:
        usable_cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable_cores = os.cpu_count()
    return {
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable_cores,
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "numpy": numpy.__version__,
        "ase": ase.__version__,
        "nnpkit": nnpkit.__version__,
        "git_commit": _git_commit(),
        "thread_env": {name: os.environ.get(name) for name in THREAD_ENV_VARS},
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def reproduce_command(script: str) -> str:
    """``python benchmarks/<script> <this run's arguments>``, shell-quoted."""
    return shlex.join(["python", f"benchmarks/{script}", *sys.argv[1:]])


def machine_summary(info: dict[str, Any]) -> str:
    """One line for the top of a markdown section."""
    load = info["load_average_1min"]
    load_text = f" (load {load:.1f})" if load is not None else ""
    return (f"{info['cpu_model']}, {info['usable_cores']} usable cores{load_text}, "
            f"torch {info['torch']} with "
            f"{info['torch_threads']} thread(s), OMP_NUM_THREADS="
            f"{info['thread_env']['OMP_NUM_THREADS']}, nnpkit {info['nnpkit']} "
            f"({info['git_commit']})")


def format_value(value: Any) -> str:
    """A table cell: '–' for None, 3 significant figures or thousands separators."""
    if value is None:
        return "–"
    if isinstance(value, float):
        if value == 0:
            return "0"
        magnitude = abs(value)
        if magnitude < 1e-3:
            return f"{value:.3g}"
        if magnitude >= 100:
            return f"{value:,.0f}"
        if magnitude >= 10:
            return f"{value:.1f}"
        return f"{value:#.3g}"  # keeps trailing zeros: 3.00, 0.0500
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10000 else str(value)
    return str(value)


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """A GitHub markdown table.

    Args:
        rows: one dict per row.
        columns: ``(key, header)`` pairs, in order; a missing key prints as "–".
    """
    header = "| " + " | ".join(title for _, title in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    lines = [header, rule]
    for row in rows:
        lines.append("| " + " | ".join(format_value(row.get(key)) for key, _ in columns) + " |")
    return "\n".join(lines)


def time_calls(function: Callable[[], Any], repeats: int, warmup: int = 1) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls of ``function`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def summarize_times(times: Sequence[float]) -> dict[str, float]:
    """Median, minimum and maximum of a list of seconds."""
    ordered = sorted(times)
    middle = len(ordered) // 2
    median = (ordered[middle] if len(ordered) % 2
              else 0.5 * (ordered[middle - 1] + ordered[middle]))
    return {"median_s": median, "min_s": ordered[0], "max_s": ordered[-1], "n": len(ordered)}


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, MiB (``getrusage(RUSAGE_SELF)``).

    ``ru_maxrss`` is a high-water mark that never goes down, so per-case peaks need a fresh
    process per case (the speed benchmarks run each case in a spawned child).
    """
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / 1024**2 if sys.platform == "darwin" else peak / 1024


def _proc_status_mib(field: str) -> float | None:
    """A ``Vm*`` field of /proc/self/status in MiB, or None off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # the file gives kB
    except (OSError, ValueError):
        pass
    return None


def current_rss_mib() -> float | None:
    """This process's resident set size now, MiB (Linux ``VmRSS``; None elsewhere)."""
    return _proc_status_mib("VmRSS")


def reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark (``VmHWM``) so :func:`window_peak_rss_mib`
    measures from now on (Linux >= 4.0; writes "5" to /proc/self/clear_refs).

    Returns False where that is not possible; ``ru_maxrss`` is never reset.
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def window_peak_rss_mib() -> float | None:
    """Peak RSS since the last :func:`reset_peak_rss`, MiB (Linux ``VmHWM``)."""
    return _proc_status_mib("VmHWM")


def write_results(name: str, results: dict[str, Any], out_dir: Path = OUT_DIR) -> Path:
    """Write ``results`` to ``<out_dir>/<name>.json`` and return the path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    return path


def train_bpnn(structures: list, run_dir: Path, time_limit_min: float, max_epochs: int,
               cutoff_A: float = 5.0, model_overrides: dict | None = None,
               training_overrides: dict | None = None, num_threads: int | None = None
               ) -> Path:
    """Train a BPNN with :func:`nnpkit.training.fit` and return its model file path.

    Args:
        structures: labelled Atoms; 10 % held out as the test set.
        run_dir: the run directory (data files and ``model.nnp`` go here).
        time_limit_min: training wall-clock limit, minutes.
        max_epochs: epoch limit (whichever comes first).
        cutoff_A: model cutoff, Å.
        model_overrides: further ``model:`` settings (e.g. ``{"hidden": [64, 64]}``).
        training_overrides: further ``training:`` settings.
        num_threads: torch threads while training; default: torch's.
    """
    from nnpkit.data import write_structures
    from nnpkit.training import fit, load_config

    run_dir.mkdir(parents=True, exist_ok=True)
    n_test = max(1, len(structures) // 10)
    train_path, test_path = run_dir / "train.extxyz", run_dir / "test.extxyz"
    write_structures(train_path, structures[n_test:])
    write_structures(test_path, structures[:n_test])
    config = load_config({
        "data": {"train": str(train_path), "test": str(test_path)},
        "model": {"kind": "bpnn", "cutoff_A": cutoff_A, **(model_overrides or {})},
        "training": {"max_epochs": max_epochs, "time_limit_min": time_limit_min,
                     "num_threads": num_threads, "progress": False,
                     **(training_overrides or {})},
        "output": str(run_dir / "run"),
    })
    started = time.perf_counter()
    result = fit(config)
    forces_mae = result.test_metrics.get("forces_mae_meV_per_A")
    if forces_mae is None or not math.isfinite(forces_mae):
        raise RuntimeError(f"training in {run_dir} gave a non-finite model (test metrics "
                           f"{result.test_metrics}); the benchmark would time NaNs")
    print(f"# trained {result.model_path} in {time.perf_counter() - started:.0f} s, "
          f"{result.epochs} epochs ({result.stop_reason}); test forces MAE "
          f"{forces_mae:.0f} meV/Å",
          file=sys.stderr)
    return Path(result.model_path)


def copper_model(model_path: str | None, quick: bool = False,
                 run_dir: Path | None = None,
                 num_threads: int | None = None) -> Path:
    """The Cu BPNN to benchmark: ``model_path`` if given, else one trained now.

    The trained model is a default BPNN (cutoff 5 Å) fitted for a few minutes on
    ``copper_emt_dataset(200)`` (``quick``: 30 structures, a few epochs), so speed numbers
    reflect a real trained potential; its accuracy does not matter here. Pass the printed
    path back with ``--model`` to skip training next time.
    """
    if model_path:
        return Path(model_path)
    from nnpkit.labeling.datasets import copper_emt_dataset

    n_structures, minutes, epochs = (30, 0.3, 3) if quick else (200, 3.0, 200)
    run_dir = run_dir or OUT_DIR / "models" / ("copper_bpnn_quick" if quick else "copper_bpnn")
    structures = copper_emt_dataset(n_structures, seed=0)
    return train_bpnn(structures, run_dir, minutes, epochs, num_threads=num_threads)


def ethanol_model(model_path: str | None, quick: bool = False,
                  run_dir: Path | None = None,
                  num_threads: int | None = None) -> Path:
    """The ethanol BPNN to benchmark: ``model_path`` if given, else one trained now.

    Trained for a couple of minutes on ``ethanol_xtb_dataset(300)`` (GFN2-xTB labels;
    ``quick``: 40 structures, a few epochs). Needs tblite.
    """
    if model_path:
        return Path(model_path)
    from nnpkit.labeling.datasets import ethanol_xtb_dataset

    n_structures, minutes, epochs = (40, 0.3, 3) if quick else (300, 2.0, 200)
    run_dir = run_dir or OUT_DIR / "models" / ("ethanol_bpnn_quick" if quick else "ethanol_bpnn")
    structures = ethanol_xtb_dataset(n_structures, seed=0, progress=False)
    return train_bpnn(structures, run_dir, minutes, epochs, num_threads=num_threads)
