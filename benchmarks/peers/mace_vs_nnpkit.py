"""nnpkit against MACE on the same data, cutoff and CPU training time, side by side.

MACE (the ``mace-torch`` package) pins an older e3nn than nnpkit, so it is installed into
its own virtual environment (``benchmarks/out/peers/mace-venv``; ``--mace-venv`` to reuse
one). For each data set:

1. MACE trains for a fixed number of epochs (``mace_run_train``, 32x0e+32x1o, correlation
   3, 2 interactions, EMA, AMSGrad, r_max 5 Å); its training-loop CPU time T is measured.
2. nnpkit's equivariant model and its BPNN each train with a budget of exactly T on this
   process's CPU clock (``training.time_clock: process``), same cutoff, same files.
3. Every model is evaluated by ``evaluate.py`` in its own environment and process: energy,
   force (and stress) MAE on the same test set, MD atom-steps per second, peak memory.

Data: the ethanol GFN2-xTB set of the core benchmark (1100 train+validation configurations
at 500 K, 1000 test configurations from an independent trajectory) and the EMT copper set
with stress (400 structures: bulk, strained, slabs, vacancy; 80 held out). Everything runs
single-threaded (``OMP_NUM_THREADS=1``); the two data sets run side by side, one per core.

    python benchmarks/peers/mace_vs_nnpkit.py                       # full (about 1 h)
    python benchmarks/peers/mace_vs_nnpkit.py --quick               # smoke run, minutes
    python benchmarks/peers/mace_vs_nnpkit.py --datasets ethanol --tag wsd \
        --equivariant-set training.lr_schedule=cosine \
        --equivariant-set training.lr_decay_fraction=0.2 \
        --equivariant-set training.learning_rate=0.006  # a variant; MACE's run reused
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from common import OUT_DIR, set_thread_env  # noqa: E402

set_thread_env(1)
from peers_support import (  # noqa: E402
    DATASETS,
    mace_train_command,
    measured_run,
    nnpkit_config,
    parse_mace_log,
    prepare_dataset,
    report,
    tag_suffix,
)

MACE_PIP = ["torch==2.13.0", "mace-torch"]


def ensure_mace_venv(venv: Path) -> Path:
    """The MACE environment's python, creating the venv (torch first, CPU wheel) if needed."""
    python = venv / "bin" / "python"
    if not (venv / "bin" / "mace_run_train").is_file():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        for package in MACE_PIP:
            subprocess.run([str(python), "-m", "pip", "install", "-q", package], check=True)
    return python


def stage(record: Path, run: Callable[[], dict]) -> dict:
    """The stage's stored record, or run it and store the record atomically (resumable)."""
    if record.is_file():
        return json.loads(record.read_text())
    result = run()
    partial = record.with_suffix(".partial")
    partial.write_text(json.dumps(result, indent=2))
    partial.replace(record)
    return result


def fresh_run(command: list[str], run_dir: Path, cwd: Path, log: Path) -> dict:
    """``measured_run`` after removing what an interrupted earlier attempt left in run_dir."""
    shutil.rmtree(run_dir, ignore_errors=True)
    return measured_run(command, cwd=cwd, log=log)


def run_dataset(name: str, work: Path, mace_venv: Path, quick: bool, tag: str = "",
                overrides: dict[str, list[str]] | None = None) -> dict:
    """Train and evaluate MACE, the equivariant model and the BPNN on one data set.

    Each finished stage leaves ``<stage>.record.json`` in ``work``; a killed run started
    again skips those stages (delete ``work`` for a fresh run). With ``tag`` the nnpkit
    runs given ``overrides[kind]`` (``nnpkit train --set`` items), their evaluations and
    ``result-<tag>.json`` carry it (``equivariant-<tag>``, ...); the data, MACE's run and
    the kinds without overrides are shared with the untagged runs.
    """
    overrides = overrides or {}
    suffix = tag_suffix(tag)
    suffixes = {kind: suffix if overrides.get(kind) else ""
                for kind in ("mace", "equivariant", "bpnn")}
    spec = DATASETS[name]
    work.mkdir(parents=True, exist_ok=True)
    files = stage(work / "data.record.json", lambda: {
        key: str(path) for key, path in prepare_dataset(name, work, quick).items()})
    files = {key: Path(path) for key, path in files.items()}
    mace_python = ensure_mace_venv(mace_venv)
    epochs = 2 if quick else spec.mace_epochs
    mace_run = stage(work / "mace.record.json", lambda: fresh_run(
        mace_train_command(mace_venv, name, files, epochs), work / "mace", cwd=work / "mace",
        log=work / "mace.out"))
    mace_log = parse_mace_log(work / "mace")
    # MACE's training loop on the wall clock, scaled to CPU time by the process's ratio
    budget_s = mace_log["loop_wall_s"] * mace_run["cpu_s"] / mace_run["wall_s"]
    runs = {"mace": {**mace_run, **mace_log, "training_cpu_s": budget_s, "epochs": epochs,
                     "model": str(work / "mace" / "mace.model")}}
    for kind in ("equivariant", "bpnn"):
        run_dir = work / f"{kind}{suffixes[kind]}"
        config_path = nnpkit_config(name, kind, files, run_dir, budget_s)
        command = [str(Path(sys.executable).parent / "nnpkit"), "train", str(config_path)]
        for item in overrides.get(kind, []):
            command += ["--set", item]
        record = stage(work / f"{kind}{suffixes[kind]}.record.json", lambda c=command, d=run_dir:
                       fresh_run(c, d, cwd=work, log=d.with_suffix(".out")))
        metrics = json.loads((run_dir / "metrics.json").read_text())
        runs[kind] = {**record, "training_cpu_s": metrics["training_time_s"],
                      "epochs": metrics["epochs"], "model": str(run_dir / "model.nnp"),
                      "history": str(run_dir / "metrics.csv")}
    for kind, record in runs.items():
        python = mace_python if kind == "mace" else Path(sys.executable)
        out = work / f"eval_{kind}{suffixes[kind]}.json"
        if not out.is_file():  # evaluate.py writes its JSON last, once everything is measured
            measured_run([str(python), str(HERE / "evaluate.py"),
                          "--kind", "mace" if kind == "mace" else "nnpkit",
                          "--model", record["model"], "--test", str(files["test"]),
                          "--md-structure", str(files["md"]),
                          "--md-steps", "30" if quick else str(spec.md_steps),
                          "--timestep-fs", str(spec.timestep_fs), "--out", str(out)],
                         cwd=work, log=out.with_suffix(".out"))
        record.update(json.loads(out.read_text()))
    result = {"dataset": name, "budget_cpu_s": budget_s, "runs": runs}
    (work / f"result{suffix}.json").write_text(json.dumps(result, indent=2))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny data, 2 MACE epochs")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--mace-venv", type=Path, default=OUT_DIR / "peers" / "mace-venv")
    parser.add_argument("--sequential", action="store_true",
                        help="one data set after the other instead of one per core")
    parser.add_argument("--tag", default="", help="name of a variant of the nnpkit runs "
                        "(with --equivariant-set / --bpnn-set); MACE's run is reused")
    for kind in ("equivariant", "bpnn"):
        parser.add_argument(f"--{kind}-set", action="append", default=[], metavar="KEY=VALUE",
                            help=f"nnpkit train --set item of the {kind} run (needs --tag)")
    parser.add_argument("--only", help=argparse.SUPPRESS)  # internal: run one data set
    args = parser.parse_args()
    overrides = {"equivariant": args.equivariant_set, "bpnn": args.bpnn_set}
    if any(overrides.values()) and not args.tag:
        parser.error("--equivariant-set / --bpnn-set need a --tag (the runs without "
                     "overrides keep the untagged names)")
    out = OUT_DIR / ("peers_quick" if args.quick else "peers")
    if args.only:
        run_dataset(args.only, out / args.only, args.mace_venv, args.quick, args.tag,
                    overrides)
        return
    ensure_mace_venv(args.mace_venv)
    lanes = []
    for name in args.datasets:
        command = [sys.executable, __file__, "--only", name, "--mace-venv",
                   str(args.mace_venv), *(["--quick"] if args.quick else []),
                   "--tag", args.tag,
                   *(f"--{kind}-set={item}" for kind, items in overrides.items()
                     for item in items)]
        if args.sequential:
            subprocess.run(command, check=True)
        else:
            lanes.append(subprocess.Popen(command, env={**os.environ}))
    if any(lane.wait() != 0 for lane in lanes):
        raise SystemExit("a data set failed; see its *.out logs under " + str(out))
    results = [json.loads((out / name / f"result{tag_suffix(args.tag)}.json").read_text())
               for name in args.datasets]
    print(report(results, out, quick=args.quick, tag=args.tag))


if __name__ == "__main__":
    main()
