"""Committee uncertainty on ethanol (GFN2-xTB): does the force std track the error, and
does it flag an MD run driven into an unseen region before the molecule falls apart?

    OMP_NUM_THREADS=1 python benchmarks/committee_uncertainty.py [--quick]

A committee of BPNNs is trained on 500 K configurations. Spearman correlations between
per-atom ``forces_std`` and the per-atom force error are measured on held-out 500 K and
1500 K configurations; then committee-driven NVT MD at 1500 K (one run) and 2500 K (six
seeds) runs with the uncertainty guard in "flag" mode, and the first flagged step is
compared with the first step at which the molecule is in pieces ("falls apart").
A rerun reuses the labelled files and the finished committee members.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

OUT = Path(__file__).parent / "out"


def n_fragments(atoms) -> int:  # noqa: ANN001
    """Connected pieces of the bond graph (bonds: 1.5× ASE's natural cutoffs, generous
    enough that thermal stretching at 1500 K does not count as breaking)."""
    from ase.neighborlist import natural_cutoffs, neighbor_list
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    i, j = neighbor_list("ij", atoms, [1.5 * c for c in natural_cutoffs(atoms)])
    graph = coo_matrix((i * 0 + 1, (i, j)), shape=(len(atoms), len(atoms)))
    return int(connected_components(graph, directed=False)[0])


def flag_versus_breakup(calculator, temperature_K: float, steps: int, threshold: float,  # noqa: ANN001
                        seed: int) -> dict:
    """Committee-driven NVT MD of ethanol with the guard in flag mode: the first flagged
    step against the first step (checked every 10) at which the molecule is in pieces."""
    from ase.build import molecule

    from nnpkit.md import run_md
    from nnpkit.md.uncertainty import UncertaintyGuard

    guard = UncertaintyGuard(calculator, None, threshold, action="flag")
    broken_at: list[int] = []
    state = {"calls": 0}

    def watch() -> None:  # called at steps 0, 10, 20, ...
        step = 10 * state["calls"]
        state["calls"] += 1
        if not broken_at and n_fragments(calculator.atoms) > 1:
            broken_at.append(step)

    run_md(molecule("CH3CH2OH"), calculator, temperature_K=temperature_K, steps=steps,
           timestep_fs=0.5, ensemble="nvt", friction_per_fs=0.02, progress=False, seed=seed,
           observers=[guard.observer(), (watch, 10)])
    first_flag = guard.flags[0][0] if guard.flags else None
    broken = broken_at[0] if broken_at else None
    return {"temperature_K": temperature_K, "seed": seed, "steps": steps,
            "threshold_eV_per_A": threshold, "first_flagged_step": first_flag,
            "n_flagged": len(guard.flags), "fragmented_at_step": broken,
            "flagged_before_breakup": (None if broken is None else
                                       first_flag is not None and first_flag < broken)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--threshold", type=float, default=0.3, help="max_force_std, eV/Å")
    args = parser.parse_args()
    n_train, n_test, minutes, md_steps = (60, 20, 0.3, 200) if args.quick else (400, 200, 2.0,
                                                                                 4000)

    from nnpkit.calculators import load_calculator
    from nnpkit.data import write_structures
    from nnpkit.labeling.datasets import ethanol_xtb_dataset
    from nnpkit.training import load_config
    from nnpkit.training.committee import fit_committee
    from nnpkit.training.evaluation import evaluate_file

    work = OUT / ("committee_quick" if args.quick else "committee")
    work.mkdir(parents=True, exist_ok=True)
    for name, n, temperature_K, seed in (("train", n_train, 500.0, 0),
                                         ("test_500K", n_test, 500.0, 1),
                                         ("test_1500K", n_test, 1500.0, 2)):
        if not (work / f"{name}.extxyz").is_file():  # labelled sets are kept between runs
            write_structures(work / f"{name}.extxyz", ethanol_xtb_dataset(
                n, temperature_K=temperature_K, seed=seed))
    config = load_config({
        "data": {"train": str(work / "train.extxyz"), "test": str(work / "test_500K.extxyz")},
        "model": {"kind": "bpnn"},
        "training": {"max_epochs": 10000, "time_limit_min": minutes, "num_threads": 1},
        "output": str(work / "run"),
    })
    committee = fit_committee(config, args.members)
    record: dict = {"members": args.members, "n_train": n_train}
    for name in ("test_500K", "test_1500K"):
        metrics = evaluate_file(str(committee.run_dir), str(work / f"{name}.extxyz"))
        record[name] = metrics
    calculator = load_calculator(str(committee.run_dir))
    record["md_1500K"] = flag_versus_breakup(calculator, 1500.0, md_steps, args.threshold, 0)
    record["md_2500K"] = [flag_versus_breakup(calculator, 2500.0, md_steps, args.threshold, seed)
                          for seed in range(2 if args.quick else 6)]
    out = OUT / ("committee_uncertainty_quick.json" if args.quick
                 else "committee_uncertainty.json")
    out.write_text(json.dumps(record, indent=2))
    print("| test set | force MAE (meV/Å) | Spearman(force std, force error) |")
    print("|---|---|---|")
    for name in ("test_500K", "test_1500K"):
        print(f"| {name} | {record[name]['forces_mae_meV_per_A']:.1f} | "
              f"{record[name]['forces_std_spearman']:.3f} |")
    print(f"\nCommittee-driven NVT MD ({md_steps} steps of 0.5 fs), threshold "
          f"{args.threshold} eV/Å (fragmented: None = stayed whole):\n")
    print("| T (K) | seed | first flagged step | fragmented at step | flag first? |")
    print("|---|---|---|---|---|")
    for run in [record["md_1500K"], *record["md_2500K"]]:
        print(f"| {run['temperature_K']:.0f} | {run['seed']} | {run['first_flagged_step']} | "
              f"{run['fragmented_at_step']} | {run['flagged_before_breakup']} |")


if __name__ == "__main__":
    main()
