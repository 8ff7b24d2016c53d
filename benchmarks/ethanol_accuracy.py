"""Ethanol, GFN2-xTB, 500 K: accuracy and training time of the BPNN potential.

Training set: 1000 configurations (+ validation) from one GFN2-xTB Langevin trajectory;
test set: 1000 configurations from an independent trajectory (another seed), so the
test is held out in time and in initial conditions. Targets (issue #2): force MAE
≤ 25 meV/Å, energy MAE ≤ 1 meV/atom, training ≤ 20 min on 2 CPU cores.

    OMP_NUM_THREADS=1 python benchmarks/ethanol_accuracy.py            # full (≈25 min)
    OMP_NUM_THREADS=1 python benchmarks/ethanol_accuracy.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

OUT = Path(__file__).parent / "out"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a minute")
    parser.add_argument("--n-train", type=int, default=1000)
    parser.add_argument("--n-validation", type=int, default=100)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--time-limit-min", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--interval-steps", type=int, default=20, help="MD steps per sample")
    args = parser.parse_args()
    if args.quick:
        args.n_train, args.n_validation, args.n_test, args.time_limit_min = 60, 10, 30, 0.5

    from nnpkit.data import write_structures
    from nnpkit.labeling.datasets import ethanol_xtb_dataset
    from nnpkit.training import fit, load_config

    work = OUT / ("ethanol_quick" if args.quick else "ethanol")
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    train = ethanol_xtb_dataset(args.n_train + args.n_validation, temperature_K=500.0,
                                interval_steps=args.interval_steps, seed=0)
    test = ethanol_xtb_dataset(args.n_test, temperature_K=500.0,
                               interval_steps=args.interval_steps, seed=1)
    labelling_s = time.monotonic() - started
    write_structures(work / "train.extxyz", train)
    write_structures(work / "test.extxyz", test)
    config = load_config({
        "data": {"train": str(work / "train.extxyz"), "test": str(work / "test.extxyz"),
                 "validation_fraction": args.n_validation / (args.n_train + args.n_validation)},
        "model": {"kind": "bpnn", "cutoff_A": 5.0},
        "training": {"max_epochs": 100000, "time_limit_min": args.time_limit_min,
                     "early_stopping_patience": 100, "num_threads": args.threads},
        "output": str(work / "run"),
    })
    result = fit(config)
    summary = json.loads((result.run_dir / "metrics.json").read_text())
    record = {
        "n_train": summary["n_train"], "n_validation": summary["n_validation"],
        "n_test": summary["n_test"], "labelling_s": labelling_s,
        "training_s": summary["training_time_s"], "epochs": summary["epochs"],
        "stop_reason": summary["stop_reason"], "test": summary["test"],
        "torch_threads": args.threads,
    }
    (OUT / ("ethanol_accuracy_quick.json" if args.quick else "ethanol_accuracy.json")
     ).write_text(json.dumps(record, indent=2))
    test_metrics = summary["test"]
    print("| quantity | nnpkit BPNN | target |")
    print("|---|---|---|")
    print(f"| force MAE (meV/Å) | {test_metrics['forces_mae_meV_per_A']:.2f} | ≤ 25 |")
    print(f"| force RMSE (meV/Å) | {test_metrics['forces_rmse_meV_per_A']:.2f} | |")
    print(f"| energy MAE (meV/atom) | {test_metrics['energy_mae_meV_per_atom']:.3f} | ≤ 1 |")
    print(f"| energy RMSE (meV/atom) | {test_metrics['energy_rmse_meV_per_atom']:.3f} | |")
    print(f"| training time (min) | {summary['training_time_s'] / 60:.1f} | ≤ 20 |")
    print(f"| epochs (stop: {summary['stop_reason']}) | {summary['epochs']} | |")
    print(f"| train / test structures | {summary['n_train']} / {summary['n_test']} | "
          f"1000 / 1000 |")


if __name__ == "__main__":
    main()
