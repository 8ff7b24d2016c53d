"""DDP training throughput: 2 gloo processes (torchrun) against 1 process on CPU.

    OMP_NUM_THREADS=1 python benchmarks/ddp_throughput.py [--epochs 6] [--n 200]

The same BPNN config (GFN2-xTB ethanol MD data, batch 16, single-threaded torch) is
trained for a fixed number of epochs by ``nnpkit.training.fit`` (1 process) and by
``train_distributed(nproc=2)`` (torchrun, each rank half of every batch). Throughput is
training structures × epochs / training wall time (``metrics.json``; the 2-process time
includes every rank evaluating the validation set each epoch). The final validation and
test errors of both runs are reported side by side. Writes
``benchmarks/out/ddp_throughput.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import set_thread_env  # noqa: E402

set_thread_env(1)

from common import (  # noqa: E402
    OUT_DIR,
    machine_info,
    markdown_table,
    reproduce_command,
    write_results,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--n", type=int, default=200, help="structures (80 % train)")
    args = parser.parse_args()
    import yaml

    from nnpkit.data import write_structures
    from nnpkit.labeling import ethanol_xtb_dataset
    from nnpkit.training import fit, load_config
    from nnpkit.training.launch import train_distributed

    work = OUT_DIR / "ddp_throughput"
    work.mkdir(parents=True, exist_ok=True)
    write_structures(work / "ethanol.extxyz", ethanol_xtb_dataset(args.n, progress=False))
    config = {"data": {"train": str(work / "ethanol.extxyz"), "validation_fraction": 0.1,
                       "test_fraction": 0.1},
              "model": {"kind": "bpnn", "cutoff_A": 5.0, "hidden": [64, 64]},
              "training": {"max_epochs": args.epochs, "time_limit_min": None,
                           "batch_size": 16, "num_threads": 1, "progress": False},
              "output": str(work / "one")}
    one = fit(load_config(config))
    config["output"] = str(work / "two")
    (work / "two.yaml").write_text(yaml.safe_dump(config))
    train_distributed(work / "two.yaml", nproc=2)
    rows = []
    for name, processes in (("one", 1), ("two", 2)):
        summary = json.loads((work / name / "metrics.json").read_text())
        history = (work / name / "metrics.csv").read_text().splitlines()
        final_val = float(history[-1].split(",")[5])
        rows.append({"processes": processes,
                     "structures_per_s": summary["n_train"] * summary["epochs"]
                     / summary["training_time_s"],
                     "training_time_s": summary["training_time_s"],
                     "val_forces_mae_meV_per_A": final_val,
                     "test_forces_mae_meV_per_A": summary["test"]["forces_mae_meV_per_A"]})
    for row in rows:
        row["speedup"] = row["structures_per_s"] / rows[0]["structures_per_s"]
    info = machine_info()
    results = {"benchmark": "ddp_throughput", "machine": info,
               "command": reproduce_command("ddp_throughput.py"), "epochs": args.epochs,
               "n_train": json.loads((work / "one" / "metrics.json").read_text())["n_train"],
               "rows": rows, "test_one_process": one.test_metrics}
    path = write_results("ddp_throughput", results)
    print(markdown_table(rows, [("processes", "processes"),
                                ("structures_per_s", "train structures/s"),
                                ("speedup", "speedup"),
                                ("val_forces_mae_meV_per_A", "val force MAE (meV/Å)"),
                                ("test_forces_mae_meV_per_A", "test force MAE (meV/Å)")]))
    print(f"load {info['load_average_1min']}; {path}")


if __name__ == "__main__":
    main()
