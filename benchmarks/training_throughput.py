"""Training throughput of the BPNN: precomputed descriptors against the descriptor in every
epoch, side by side in one process (issue #14, "Training throughput").

The same data, model, seed and epochs are trained twice, with
``training.precompute_descriptors`` true and false (float32, one thread, batch size 8),
and the CPU seconds per epoch are read from the run's history (``elapsed_s`` on the
process clock; the one-off precomputation counts in the first epoch and is reported
apart). Both runs reach the same weights to float32 round-off (asserted in float64 by
``tests/test_training_precomputed.py``), so the ratio of seconds per epoch is the ratio of
epochs per CPU-second. Data: the 300 GFN2-xTB ethanol configurations of
``reference_speedup.py`` (default BPNN, 240 features, 128-128-64) and 200 EMT copper
structures with stress (the copper benchmark model's settings).

    OMP_NUM_THREADS=1 python benchmarks/training_throughput.py --epochs 10
    # before/after: an older checkout (no precompute key) on PYTHONPATH, its default only
    PYTHONPATH=/tmp/base/src python benchmarks/training_throughput.py --modes default
    python benchmarks/training_throughput.py --quick      # smoke run
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import common

DATASETS = ("ethanol", "copper")


def _structures(name: str, quick: bool) -> list:
    if name == "ethanol":
        from nnpkit.labeling.datasets import ethanol_xtb_dataset

        return ethanol_xtb_dataset(40 if quick else 300)
    from nnpkit.labeling import copper_emt_dataset

    return copper_emt_dataset(30 if quick else 200, seed=0)


#: mode → ``training.precompute_descriptors`` (None: the key left out, the library's
#: default; what an older nnpkit without the key runs, for before/after).
MODES = {"every_epoch": False, "precomputed": True, "default": None}


def _train(train: Path, out: Path, model: dict, epochs: int, precompute: bool | None
           ) -> dict[str, Any]:
    """One run; seconds per epoch (process clock) and the precomputation's share."""
    from nnpkit.training import fit, load_config

    training = {"max_epochs": epochs, "batch_size": 8, "progress": False, "num_threads": 1,
                "time_clock": "process", "time_limit_min": None}
    if precompute is not None:
        training["precompute_descriptors"] = precompute
    config = {"data": {"train": str(train), "validation_fraction": 0.1, "test_fraction": 0.1},
              "model": model, "training": training, "output": str(out)}
    started = time.process_time()
    fit(load_config(config))
    total = time.process_time() - started
    with open(out / "metrics.csv", newline="") as handle:
        elapsed = [float(row["elapsed_s"]) for row in csv.DictReader(handle)]
    steady = [b - a for a, b in zip(elapsed[:-1], elapsed[1:], strict=True)]
    return {"epochs": len(elapsed), "first_epoch_s": elapsed[0],
            "s_per_epoch": sorted(steady)[len(steady) // 2], "total_process_s": total}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--only", choices=DATASETS, nargs="*", default=list(DATASETS))
    parser.add_argument("--modes", choices=sorted(MODES), nargs="+",
                        default=["every_epoch", "precomputed"])
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per mode")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--tag", default="", help="suffix of the result file")
    args = parser.parse_args(argv)
    common.set_thread_env(1)
    from nnpkit.data import write_structures

    models = {"ethanol": {"kind": "bpnn"}, "copper": {"kind": "bpnn", "cutoff_A": 5.0}}
    epochs = 3 if args.quick else args.epochs
    results: dict[str, Any] = {"epochs": epochs, "machine": common.machine_info(),
                               "command": common.reproduce_command("training_throughput.py")}
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.only:
            train = Path(scratch) / f"{name}.extxyz"
            write_structures(train, _structures(name, args.quick))
            rows: dict[str, list] = {}
            for round_ in range(1 if args.quick else args.rounds):  # alternating: drift cancels
                for mode in args.modes:
                    run = _train(train, Path(scratch) / f"{name}_{mode}_{round_}",
                                 models[name], epochs, MODES[mode])
                    rows.setdefault(mode, []).append(run)
                    print(f"{name:8s} {mode:12s} {run['s_per_epoch']:7.2f} s/epoch "
                          f"(first {run['first_epoch_s']:.2f} s)", flush=True)
            results[name] = {"runs": rows}
            if {"every_epoch", "precomputed"} <= rows.keys():
                ratios = [a["s_per_epoch"] / b["s_per_epoch"] for a, b in
                          zip(rows["every_epoch"], rows["precomputed"], strict=True)]
                results[name]["epochs_per_cpu_s_ratio"] = ratios
                print(f"{name:8s} epochs per CPU-second, precomputed / every epoch: "
                      f"{', '.join(f'{r:.2f}' for r in ratios)}", flush=True)
    print("wrote", common.write_results("training_throughput" + args.tag, results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
