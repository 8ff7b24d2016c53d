"""Active learning against random selection on ethanol (GFN2-xTB), learning curves from one run.

    OMP_NUM_THREADS=1 python benchmarks/active_learning.py [--quick]

One GFN2-xTB Langevin MD pool at 300, 500 and 800 K (the random strategy draws from it)
and a held-out test set from independent MD runs at the same temperatures. Both
strategies train committees of the same BPNN with the same CPU-time budget per member
(``training.time_clock: process``) and are scored by the committee mean's test force MAE:

- random: committees on the first n pool frames (shuffled), n = 50 ... 1000;
- active: ``nnpkit.active.run_active_learning`` starting from the same 50 frames,
  exploring with committee MD at 300/500/800 K and adding up to ``--per-iteration``
  uncertain, diverse frames per round until 500 labels.

The target: the active curve reaches the random 1000-label test force MAE with ≤ 500
labels. Writes ``benchmarks/out/active_learning/{results.json,learning_curves.png}``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import set_thread_env  # noqa: E402

set_thread_env(1)

from common import OUT_DIR, machine_info, reproduce_command, write_results  # noqa: E402

NAME = "active_learning"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (checks the script)")
    parser.add_argument("--minutes", type=float, default=1.0,
                        help="CPU minutes per committee member")
    parser.add_argument("--members", type=int, default=2)
    parser.add_argument("--per-iteration", type=int, default=75)
    parser.add_argument("--min-force-std", type=float, default=0.05, help="eV/Å")
    args = parser.parse_args()
    import numpy as np
    import torch
    from ase.build import molecule

    from nnpkit.active import load_active_config, plot_learning_curves, run_active_learning
    from nnpkit.data import write_structures
    from nnpkit.labeling import make_reference_calculator, sample_md_temperatures
    from nnpkit.training import load_config
    from nnpkit.training.committee import fit_committee
    from nnpkit.training.evaluation import evaluate_file

    torch.set_num_threads(1)
    quick = args.quick
    sizes = [20, 40] if quick else [50, 100, 200, 500, 1000]
    budget = 40 if quick else 500
    minutes = 0.05 if quick else args.minutes
    work = OUT_DIR / (NAME + ("_quick" if quick else ""))
    work.mkdir(parents=True, exist_ok=True)
    temperatures = [300.0, 500.0, 800.0]
    started = time.perf_counter()
    gfn2 = make_reference_calculator("gfn2")
    per_temperature = (max(sizes) + 2) // 3 + 5
    pool = sample_md_temperatures(molecule("CH3CH2OH"), gfn2, temperatures, per_temperature,
                                  seed=0, progress=False, interval_steps=10)
    test = sample_md_temperatures(molecule("CH3CH2OH"), gfn2, temperatures,
                                  10 if quick else 100, seed=100, progress=False,
                                  interval_steps=20)
    order = np.random.default_rng(0).permutation(len(pool))
    pool = [pool[int(k)] for k in order]
    write_structures(work / "test.extxyz", test)
    data_s = time.perf_counter() - started
    model = {"kind": "bpnn", "cutoff_A": 5.0, "hidden": [32, 32]}
    training = {"max_epochs": 100000, "time_limit_min": minutes, "time_clock": "process",
                "num_threads": 1, "progress": False, "batch_size": 8}

    random_rows = []
    for n in sizes:
        write_structures(work / f"random_{n}.extxyz", pool[:n])
        config = load_config({"data": {"train": str(work / f"random_{n}.extxyz"),
                                        "test": str(work / "test.extxyz")},
                              "model": model, "training": training,
                              "output": str(work / f"random_{n}")})
        committee = fit_committee(config, args.members)
        metrics = evaluate_file(str(committee.run_dir), str(work / "test.extxyz"))
        random_rows.append({"n_labels": n,
                            "test_forces_mae_meV_per_A": metrics["forces_mae_meV_per_A"],
                            "test_energy_mae_meV_per_atom": metrics["energy_mae_meV_per_atom"]})
        print(f"# random {n}: {metrics['forces_mae_meV_per_A']:.1f} meV/Å", file=sys.stderr)

    write_structures(work / "initial.extxyz", pool[:sizes[0]])
    active_config = load_active_config({
        "reference": {"method": "gfn2"},
        "farm": {"n_workers": 1, "processes": False},
        "initial": {"data": str(work / "initial.extxyz")},
        "committee_size": args.members, "model": model, "training": training,
        "test_data": str(work / "test.extxyz"),
        "exploration": {"temperatures_K": temperatures, "trajectories_per_temperature": 2,
                        "steps": 100 if quick else 600, "interval_steps": 10},
        "selection": {"min_force_std": args.min_force_std, "max_force_std": 3.0,
                      "max_per_iteration": 10 if quick else args.per_iteration},
        "budget": {"max_labels": budget, "max_iterations": 30},
        "progress": False, "output": str(work / "active"),
    })
    active = run_active_learning(active_config)
    active_rows = [{key: row.get(key) for key in ("iteration", "n_labels", "n_selected",
                                                  "n_candidates", "test_forces_mae_meV_per_A",
                                                  "test_energy_mae_meV_per_atom",
                                                  "mean_max_force_std")}
                   for row in active.rows]
    random_max = random_rows[-1]["test_forces_mae_meV_per_A"]
    reached = [row["n_labels"] for row in active_rows
               if row["test_forces_mae_meV_per_A"] <= random_max]
    labels_needed = min(reached) if reached else None
    best_active = min(row["test_forces_mae_meV_per_A"] for row in active_rows)
    plot_learning_curves({"random": random_rows, "active (committee MD)": active_rows},
                         work / "learning_curves.png",
                         title="ethanol, GFN2-xTB, test 300–800 K",
                         reference_line=(f"random @ {sizes[-1]}", random_max))
    results = {
        "benchmark": NAME, "machine": machine_info(), "command": reproduce_command(
            "active_learning.py"),
        "settings": {"members": args.members, "cpu_minutes_per_member": minutes,
                     "sizes": sizes, "budget": budget, "per_iteration": args.per_iteration,
                     "min_force_std_eV_per_A": args.min_force_std, "model": model,
                     "n_pool": len(pool), "n_test": len(test)},
        "random": random_rows, "active": active_rows, "active_stop_reason": active.stop_reason,
        "random_max_labels_forces_mae_meV_per_A": random_max,
        "active_best_forces_mae_meV_per_A": best_active,
        "active_labels_to_reach_random_max": labels_needed,
        "target_met": labels_needed is not None and labels_needed <= budget,
        "data_generation_s": data_s, "wall_s": time.perf_counter() - started,
    }
    path = write_results("results", results, work)
    print(f"random@{sizes[-1]}: {random_max:.1f} meV/Å; active best {best_active:.1f} meV/Å; "
          f"labels to reach: {labels_needed}; results in {path}")


if __name__ == "__main__":
    main()
