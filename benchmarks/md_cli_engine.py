"""Per-step cost of ``nnpkit md`` on its two engines: the batched torch engine (the
default) against ASE's integrators (``--engine ase``), ethanol, one CPU thread.

Side by side in one run; each case (engine × ensemble) runs in a fresh spawned process
that calls ``nnpkit md`` in-process (:func:`nnpkit.cli.main.main`, the command exactly as
a user types it, with the CLI's default ``--log-interval 10``: a log row and an extxyz
frame every 10 steps, then the JSON log and the PNG). In that process: one untimed
warm-up call (imports, numba compilation), then ``--repeats`` pairs of timed calls with
0 and with ``--steps`` steps (default 2000 and 5); the per-step cost is the median of
``(t(steps) - t(0)) / steps``, so model loading, file writing at the ends and plotting
cancel. The whole-command time of the ``--steps`` call is reported too.

Model: ``--model PATH``; default the benchmark suite's trained ethanol BPNN
(``benchmarks/out/models/ethanol_bpnn/run/model.nnp``, the quickstart architecture:
``{"kind": "bpnn", "cutoff_A": 5.0}``), trained now with GFN2-xTB labels if missing
(needs tblite; see :func:`common.ethanol_model`).

    OMP_NUM_THREADS=1 python benchmarks/md_cli_engine.py            # 2000 steps
    python benchmarks/md_cli_engine.py --quick                      # smoke run
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

import common

ENGINES = ("ase", "batched")
ENSEMBLES = ("nve", "nvt")
TRAINED_MODEL = common.OUT_DIR / "models" / "ethanol_bpnn" / "run" / "model.nnp"


def _measure(case: dict[str, Any]) -> dict[str, Any]:
    """One engine and ensemble in a fresh process (see the module docstring)."""
    common.set_thread_env(1)
    import contextlib
    import io
    import json
    import statistics
    import tempfile

    import torch
    from ase.build import molecule
    from ase.io import write

    from nnpkit.cli.main import main

    torch.set_num_threads(1)
    folder = Path(tempfile.mkdtemp(prefix="md_cli_engine_"))
    atoms = molecule("CH3CH2OH")
    atoms.rattle(0.02, seed=1)
    write(folder / "start.xyz", atoms)

    def nnpkit_md(steps: int) -> tuple[float, dict]:
        arguments = ["md", case["model"], str(folder / "start.xyz"), "--temperature-K", "300",
                     "--timestep-fs", "0.5", "--steps", str(steps), "--ensemble",
                     case["ensemble"], "--engine", case["engine"], "--out",
                     str(folder / "md.extxyz")]
        output = io.StringIO()
        started = time.perf_counter()  # the progress bar is drawn, into a discarded stream
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(io.StringIO()):
            code = main(arguments)
        elapsed = time.perf_counter() - started
        if code != 0:
            raise RuntimeError(f"nnpkit md {' '.join(arguments)} exited with {code}")
        return elapsed, json.loads(output.getvalue())

    nnpkit_md(20)  # warm-up: imports, kernels
    per_step, whole = [], []
    summary: dict = {}
    for _ in range(case["repeats"]):
        empty, _ = nnpkit_md(0)
        full, summary = nnpkit_md(case["steps"])
        per_step.append((full - empty) / case["steps"])
        whole.append(full)
    return {**case, "per_step_us": 1e6 * statistics.median(per_step),
            "per_step_us_min": 1e6 * min(per_step), "per_step_us_max": 1e6 * max(per_step),
            "command_s": statistics.median(whole),
            "mean_temperature_K": summary.get("mean_temperature_K"),
            "engine_used": summary.get("engine")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="ethanol model file (default: see doc)")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="200 steps, one repeat")
    args = parser.parse_args()
    steps, repeats = (200, 1) if args.quick else (args.steps, args.repeats)
    if args.model is not None:
        model = Path(args.model)
    elif TRAINED_MODEL.is_file():
        model = TRAINED_MODEL
    else:
        model = common.ethanol_model(None, quick=args.quick)
    cases = [{"engine": engine, "ensemble": ensemble, "model": str(model), "steps": steps,
              "repeats": repeats} for ensemble in ENSEMBLES for engine in ENGINES]
    rows = []
    context = multiprocessing.get_context("spawn")
    for case in cases:  # one at a time: each case has the core to itself
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
            rows.append(pool.submit(_measure, case).result())
        print(f"# {case['engine']:8s} {case['ensemble']}: {rows[-1]['per_step_us']:.0f} µs/step",
              file=sys.stderr)
    for row in rows:
        reference = next(r for r in rows if r["ensemble"] == row["ensemble"]
                         and r["engine"] == "ase")
        row["speedup_vs_ase"] = reference["per_step_us"] / row["per_step_us"]
    info = common.machine_info()
    command = common.reproduce_command("md_cli_engine.py")
    common.write_results("md_cli_engine" + ("_quick" if args.quick else ""),
                         {"benchmark": "md_cli_engine", "command": command, "machine": info,
                          "model": str(model), "rows": rows})
    print(f"{common.machine_summary(info)}\n\n`{command}`, ethanol (9 atoms), 300 K, "
          f"0.5 fs, {steps} steps, --log-interval 10\n")
    print(common.markdown_table(rows, [
        ("ensemble", "ensemble"), ("engine", "nnpkit md --engine"),
        ("per_step_us", "µs/step"), ("per_step_us_min", "min"), ("per_step_us_max", "max"),
        ("command_s", f"whole command, {steps} steps (s)"),
        ("speedup_vs_ase", "speed-up vs ase")]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
