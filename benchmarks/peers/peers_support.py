"""Pieces of the MACE side-by-side benchmark: data sets, commands, measurement, report."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from common import OUT_DIR


@dataclass(frozen=True)
class DatasetSpec:
    """How one data set is benchmarked."""

    mace_epochs: int  # chosen so MACE trains for about 10 CPU-minutes on the 2-core VM
    md_steps: int
    timestep_fs: float
    with_stress: bool


DATASETS = {
    "ethanol": DatasetSpec(mace_epochs=35, md_steps=400, timestep_fs=0.5, with_stress=False),
    "copper": DatasetSpec(mace_epochs=30, md_steps=200, timestep_fs=1.0, with_stress=True),
}


def _with_reference_keys(structures: list) -> list:
    """Copies with the labels as REF_energy / REF_forces / REF_stress (3x3), no calculator."""
    from ase.stress import voigt_6_to_full_3x3_stress

    converted = []
    for atoms in structures:
        results = atoms.calc.results
        copy = atoms.copy()
        copy.calc = None
        copy.info["REF_energy"] = float(results["energy"])
        copy.arrays["REF_forces"] = results["forces"].copy()
        if "stress" in results and atoms.pbc.all():
            copy.info["REF_stress"] = voigt_6_to_full_3x3_stress(results["stress"])
        converted.append(copy)
    return converted


def _ethanol(quick: bool) -> tuple[list, list]:
    """Train (1100) and test (1000) sets; the core benchmark's cached files when present."""
    from nnpkit.data import read_structures
    from nnpkit.labeling.datasets import ethanol_xtb_dataset

    n_train, n_test = (100, 50) if quick else (1100, 1000)
    cached = OUT_DIR / "ethanol"
    if (cached / "train.extxyz").is_file() and (cached / "test.extxyz").is_file():
        train, test = (read_structures(cached / name) for name in ("train.extxyz", "test.extxyz"))
        if len(train) >= n_train and len(test) >= n_test:
            return train[:n_train], test[:n_test]
    return (ethanol_xtb_dataset(n_train, temperature_K=500.0, interval_steps=20, seed=0),
            ethanol_xtb_dataset(n_test, temperature_K=500.0, interval_steps=20, seed=1))


def prepare_dataset(name: str, work: Path, quick: bool) -> dict[str, Path]:
    """Write train_ref/test_ref/md_start extxyz files for ``name``; returns their paths."""
    from ase.build import bulk
    from ase.io import write

    from nnpkit.labeling.datasets import copper_emt_dataset

    if name == "ethanol":
        train, test = _ethanol(quick)
        start = test[0].copy()
    else:
        structures = copper_emt_dataset(60 if quick else 400, seed=0)
        n_test = len(structures) // 5
        train, test = structures[n_test:], structures[:n_test]
        start = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((3, 3, 3))  # 108 atoms
        start.rattle(0.05, seed=1)
    start.calc = None
    files = {"train": work / "train_ref.extxyz", "test": work / "test_ref.extxyz",
             "md": work / "md_start.extxyz"}
    write(files["train"], _with_reference_keys(train), format="extxyz")
    write(files["test"], _with_reference_keys(test), format="extxyz")
    write(files["md"], start, format="extxyz")
    return files


def mace_train_command(venv: Path, name: str, files: dict[str, Path], epochs: int) -> list[str]:
    """``mace_run_train`` arguments: a small MACE (32x0e+32x1o), r_max 5 Å, float32, CPU."""
    command = [str(venv / "bin" / "mace_run_train"), "--name", "mace", "--seed", "0",
               "--train_file", str(files["train"]), "--valid_fraction", "0.1",
               "--test_file", str(files["test"]), "--E0s", "average", "--model", "MACE",
               "--num_channels", "32", "--max_L", "1", "--correlation", "3",
               "--num_interactions", "2", "--r_max", "5.0", "--batch_size", "8",
               "--valid_batch_size", "16", "--max_num_epochs", str(epochs),
               "--ema", "--ema_decay", "0.99", "--amsgrad", "--lr", "0.01",
               "--error_table", "PerAtomMAE", "--device", "cpu",
               "--default_dtype", "float32", "--energy_key", "REF_energy",
               "--forces_key", "REF_forces"]
    if DATASETS[name].with_stress:
        command += ["--stress_key", "REF_stress", "--loss", "stress", "--stress_weight", "1.0"]
    return command


def measured_run(command: list[str], cwd: Path, log: Path) -> dict[str, float]:
    """Run ``command`` to completion; its own CPU time, wall time and peak RSS (MiB)."""
    cwd.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    started = time.perf_counter()
    with open(log, "w") as handle:
        process = subprocess.Popen(command, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT,
                                   env=env)
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{command[0]} failed (exit {status}); see {log}")
    return {"cpu_s": usage.ru_utime + usage.ru_stime, "wall_s": wall,
            "peak_rss_MiB": usage.ru_maxrss / 1024}


_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) INFO: (.*)$")
_EPOCH = re.compile(r"Epoch (\d+):.*MAE_E_per_atom=\s*([\d.]+) meV, MAE_F=\s*([\d.]+) meV")


def parse_mace_log(run_dir: Path) -> dict:
    """Training-loop wall time and per-epoch validation MAE from MACE's log."""
    log = next(path for path in (run_dir / "logs").glob("*.log") if "debug" not in path.name)
    start = end = None
    history = []
    for line in log.read_text().splitlines():
        match = _STAMP.match(line)
        if not match:
            continue
        stamp = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
        message = match.group(2)
        if message.startswith("Started training"):
            start = stamp
        elif message.startswith("Training complete"):
            end = stamp
        elif (epoch := _EPOCH.search(message)) and start is not None:
            history.append({"elapsed_wall_s": stamp - start, "epoch": int(epoch.group(1)),
                            "val_forces_mae_meV_per_A": float(epoch.group(3))})
    if start is None or end is None:
        raise RuntimeError(f"{log}: no 'Started training' / 'Training complete' lines")
    return {"loop_wall_s": end - start, "mace_history": history}


def nnpkit_config(name: str, kind: str, files: dict[str, Path], run_dir: Path,
                  budget_s: float) -> Path:
    """A run config for ``nnpkit train``: same files and cutoff, CPU-time budget."""
    import yaml

    config = {
        "data": {"train": str(files["train"]), "test": str(files["test"]),
                 "validation_fraction": 0.1, "energy_key": "REF_energy",
                 "forces_key": "REF_forces", "stress_key": "REF_stress"},
        "model": {"kind": kind, "cutoff_A": 5.0},
        "training": {"max_epochs": 100000, "time_limit_min": budget_s / 60.0,
                     "time_clock": "process", "early_stopping_patience": 100000,
                     "num_threads": 1, "progress": False, "seed": 0},
        "output": str(run_dir),
    }
    path = run_dir.parent / f"{run_dir.name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _curves(result: dict) -> dict[str, tuple[list[float], list[float]]]:
    """Validation force MAE against training CPU time, per model."""
    runs = result["runs"]
    mace = runs["mace"]
    scale = mace["cpu_s"] / mace["wall_s"]
    curves = {"MACE": ([row["elapsed_wall_s"] * scale for row in mace["mace_history"]],
                       [row["val_forces_mae_meV_per_A"] for row in mace["mace_history"]])}
    for kind in ("equivariant", "bpnn"):
        with open(runs[kind]["history"]) as handle:
            rows = list(csv.DictReader(handle))
        curves[f"nnpkit {kind}"] = ([float(row["elapsed_s"]) for row in rows],
                                    [float(row["val_forces_mae_meV_per_A"]) for row in rows])
    return curves


def plot(results: list[dict], path: Path) -> None:
    """Validation force MAE against training CPU time, one panel per data set (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(results), figsize=(5.5 * len(results), 4), squeeze=False)
    for axis, result in zip(axes[0], results, strict=True):
        for label, (seconds, errors) in _curves(result).items():
            axis.plot([s / 60 for s in seconds], errors, marker=".", label=label)
        axis.set(xlabel="training CPU time (min)", ylabel="validation force MAE (meV/Å)",
                 yscale="log", title=result["dataset"])
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def tag_suffix(tag: str) -> str:
    """``-<tag>`` for a tagged variant's file names, nothing for the untagged runs."""
    return f"-{tag}" if tag else ""


def report(results: list[dict], out: Path, quick: bool, tag: str = "") -> str:
    """Markdown tables and verdicts; writes peers.json and learning_curves.png into ``out``
    (``peers-<tag>.json``, ``learning_curves-<tag>.png`` for a tagged variant)."""
    suffix = tag_suffix(tag)
    from common import machine_info, machine_summary, markdown_table

    info = machine_info()
    rows, verdicts = [], []
    for result in results:
        runs = result["runs"]
        mace = runs["mace"]
        for kind, label in (("mace", "MACE 32x0e+32x1o"), ("equivariant", "nnpkit equivariant"),
                            ("bpnn", "nnpkit BPNN")):
            run = runs[kind]
            rows.append({**run, "dataset": result["dataset"], "model": label,
                         "md_speed_vs_mace": run["md_atom_steps_per_s_cpu"]
                         / mace["md_atom_steps_per_s_cpu"]})
        equivariant_ok = (runs["equivariant"]["forces_mae_meV_per_A"]
                          <= mace["forces_mae_meV_per_A"])
        reaching = [kind for kind in ("equivariant", "bpnn")
                    if runs[kind]["forces_mae_meV_per_A"] <= mace["forces_mae_meV_per_A"]]
        fastest = max(reaching, key=lambda k: runs[k]["md_atom_steps_per_s_cpu"], default=None)
        speed = (runs[fastest]["md_atom_steps_per_s_cpu"] / mace["md_atom_steps_per_s_cpu"]
                 if fastest else None)
        verdicts.append({"dataset": result["dataset"],
                         "equivariant_force_mae_ratio_to_mace":
                             runs["equivariant"]["forces_mae_meV_per_A"]
                             / mace["forces_mae_meV_per_A"],
                         "equivariant_at_or_below_mace": equivariant_ok,
                         "fastest_model_reaching_mace": fastest,
                         "its_md_speed_ratio_to_mace": speed})
    columns = [("dataset", "data"), ("model", "model"), ("epochs", "epochs"),
               ("training_cpu_s", "training CPU s"),
               ("energy_mae_meV_per_atom", "E MAE meV/atom"),
               ("forces_mae_meV_per_A", "F MAE meV/Å"), ("stress_mae_GPa", "σ MAE GPa"),
               ("md_atoms", "MD atoms"), ("md_atom_steps_per_s_cpu", "MD atom-steps/s"),
               ("md_speed_vs_mace", "MD speed / MACE"), ("peak_rss_MiB", "train peak MiB"),
               ("md_peak_rss_MiB", "MD peak MiB")]
    verdict_columns = [("dataset", "data"),
                       ("equivariant_force_mae_ratio_to_mace", "equivariant F MAE / MACE"),
                       ("equivariant_at_or_below_mace", "≤ MACE?"),
                       ("fastest_model_reaching_mace", "fastest nnpkit model at MACE's MAE"),
                       ("its_md_speed_ratio_to_mace", "its MD speed / MACE (target ≥ 2)")]
    text = "\n\n".join([f"Machine: {machine_summary(info)}", markdown_table(rows, columns),
                        markdown_table(verdicts, verdict_columns)])
    (out / f"peers{suffix}.json").write_text(json.dumps(
        {"machine": info, "quick": quick, "results": results, "verdicts": verdicts,
         "markdown": text}, indent=2, default=str))
    plot(results, out / f"learning_curves{suffix}.png")
    return text
