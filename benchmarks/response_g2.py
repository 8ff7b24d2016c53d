"""Dipoles and polarizabilities of held-out molecules: the charge-aware model against the
baseline without field-dependent charges, both against PySCF, and their cost.

    OMP_NUM_THREADS=1 python benchmarks/response_g2.py --data DATA.extxyz [--quick]

The data: PBE/aug-cc-pVDZ labels (energy, forces, dipole, finite-field polarizability) of
the closed-shell H/C/N/O/F molecules of ``ase.collections.g2``, equilibrium geometries
and thermally distorted conformers, made by ``benchmarks/response_g2_data.py`` through
the labelling farm. A fixed share of the *molecules* (all their conformers) is held out;
two models train on the rest with the same config and the same CPU-time budget:

- ``charge_aware``: charge equilibration with field-dependent charges + anisotropic
  atomic polarizabilities;
- ``baseline``: the same model with ``field_dependent_charges: false`` (α is the sum of
  the atomic polarizabilities; the charges give the dipole but do not respond).

Reported per held-out molecule (equilibrium geometry) and on average: |Δμ| (D), the
relative error of the isotropic α (%), the component MAE (Å³); and the cost of μ + α
from the model against PySCF's finite-field calculation of the same molecule, as a
ratio. Writes ``benchmarks/out/response_g2/{results.json,parity.png}``.
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

NAME = "response_g2"


def _split(structures: list, key: str, test_fraction: float, seed: int,
           train_fraction: float = 1.0) -> tuple[list, list, list[str]]:
    """Training and held-out structures, split by molecule; ``train_fraction`` keeps that
    share of the training molecules (a point of the learning curve; same held-out set)."""
    import numpy as np

    names = sorted({str(atoms.info[key]) for atoms in structures})
    rng = np.random.default_rng(seed)
    held_out = sorted(rng.choice(names, size=max(1, round(test_fraction * len(names))),
                                 replace=False).tolist())
    rest = [name for name in names if name not in held_out]
    kept = set(rng.permutation(rest)[:max(1, round(train_fraction * len(rest)))].tolist())
    train = [atoms for atoms in structures if atoms.info[key] in kept]
    test = [atoms for atoms in structures if atoms.info[key] in held_out]
    return train, test, held_out


def _config(train_path: Path, run_dir: Path, field_dependent: bool, minutes: float,
            epochs: int) -> dict:
    return {
        "data": {"train": str(train_path), "validation_fraction": 0.1, "test_fraction": 0.0},
        "model": {"kind": "charge_aware", "cutoff_A": 4.5, "angular_cutoff_A": 3.5,
                  "hidden": [64, 64], "field_dependent_charges": field_dependent},
        "training": {"max_epochs": epochs, "time_limit_min": minutes, "time_clock": "process",
                     "batch_size": 8, "learning_rate": 2e-3, "energy_weight": 1.0,
                     "forces_weight": 1.0, "dipole_weight": 1000.0,
                     "polarizability_weight": 1000.0, "dtype": "float64",
                     "early_stopping_patience": 100, "scheduler_patience": 15,
                     "progress": False},
        "output": str(run_dir),
    }


def _per_molecule(model_path: Path, test: list, key: str, conformer_key: str) -> list[dict]:
    import numpy as np

    from nnpkit.calculators.loading import load_calculator
    from nnpkit.units import E_A2_PER_V_TO_A3, E_A_TO_DEBYE

    calculator = load_calculator(model_path)
    warm = test[0].copy()
    warm.calc = calculator
    calculator.get_polarizability(warm)  # first-call costs (imports, allocations) untimed
    rows = []
    for atoms in test:
        if int(atoms.info.get(conformer_key, -1)) != 0:
            continue  # the G2 geometry of each held-out molecule
        work = atoms.copy()
        work.info = dict(atoms.info)
        start = time.perf_counter()
        work.calc = calculator
        dipole = work.get_dipole_moment()
        alpha = calculator.get_polarizability(work) * E_A2_PER_V_TO_A3
        seconds = time.perf_counter() - start
        ref_dipole = np.asarray(atoms.calc.results["dipole"])
        ref_alpha = np.asarray(atoms.info["polarizability"]) * E_A2_PER_V_TO_A3
        iso, ref_iso = np.trace(alpha) / 3, np.trace(ref_alpha) / 3
        rows.append({"molecule": atoms.info[key],
                     "dipole_ref_D": float(np.linalg.norm(ref_dipole) * E_A_TO_DEBYE),
                     "dipole_error_D": float(np.linalg.norm(dipole - ref_dipole) * E_A_TO_DEBYE),
                     "alpha_iso_ref_A3": float(ref_iso), "alpha_iso_A3": float(iso),
                     "alpha_iso_error_percent": float(100 * abs(iso - ref_iso) / ref_iso),
                     "alpha_component_mae_A3": float(np.mean(np.abs(alpha - ref_alpha))),
                     "model_seconds": seconds})
    return rows


def _reference_seconds(test: list, key: str, conformer_key: str, n_molecules: int,
                       basis: str, density_fit: bool) -> dict[str, dict[str, float]]:
    """Wall time of PySCF's SCF + dipole + α per molecule, with the finite-field and
    the analytic (CPKS) polarizability (forces not included: only μ and α are timed)."""
    from nnpkit.labeling.pyscf_calculator import PySCFCalculator

    timings: dict[str, dict[str, float]] = {}
    chosen = [a for a in test if int(a.info.get(conformer_key, -1)) == 0][:n_molecules]
    for atoms in chosen:
        for method in ("finite_field", "analytic"):
            calculator = PySCFCalculator(functional="pbe", basis=basis, field_response=True,
                                         density_fit=density_fit,
                                         polarizability_method=method)
            start = time.perf_counter()
            mf = calculator._converged(calculator._mean_field(atoms))
            mf.dip_moment(unit="au", verbose=0)
            calculator._polarizability_au(atoms, mf)
            timings.setdefault(str(atoms.info[key]), {})[method] = time.perf_counter() - start
    return timings


def _plot(rows: dict[str, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(9, 4))
    for label, entries in rows.items():
        axes[0].scatter([r["alpha_iso_ref_A3"] for r in entries],
                        [r["alpha_iso_A3"] for r in entries], label=label, s=14)
        axes[1].scatter([r["dipole_ref_D"] for r in entries],
                        [r["dipole_error_D"] for r in entries], label=label, s=14)
    low, high = axes[0].get_xlim()
    axes[0].plot([low, high], [low, high], "k--", lw=0.8)
    axes[0].set(xlabel="PBE α_iso (Å³)", ylabel="model α_iso (Å³)", title="held-out molecules")
    axes[1].set(xlabel="PBE |μ| (D)", ylabel="|Δμ| (D)")
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="labelled extxyz (response_g2_data.py)")
    parser.add_argument("--molecule-key", default="molecule")
    parser.add_argument("--conformer-key", default="conformer",
                        help="info key whose value 0 marks the G2 (equilibrium) geometry")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--train-fraction", type=float, default=1.0,
                        help="share of the other molecules to train on (learning curve)")
    parser.add_argument("--minutes", type=float, default=20.0, help="CPU minutes per model")
    parser.add_argument("--epochs", type=int, default=2000)
    parser.add_argument("--reference-molecules", type=int, default=3,
                        help="held-out molecules PySCF is timed on")
    parser.add_argument("--basis", default="aug-cc-pvdz")
    parser.add_argument("--density-fit", action="store_true",
                        help="time PySCF with density fitting (as the labels were made)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override of both models' run config, e.g. model.hidden=[32,32]")
    parser.add_argument("--tag", default="", help="suffix of the output directory")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="tiny budget (checks the script)")
    args = parser.parse_args()
    import numpy as np
    import torch

    from nnpkit.data import read_structures, write_structures
    from nnpkit.training import fit, load_config

    torch.set_num_threads(1)
    out = OUT_DIR / (NAME + (f"_{args.tag}" if args.tag else ""))
    out.mkdir(parents=True, exist_ok=True)
    structures = read_structures(args.data)
    train, test, held_out = _split(structures, args.molecule_key, args.test_fraction, args.seed,
                                   args.train_fraction)
    write_structures(out / "train.extxyz", train)
    minutes = 0.2 if args.quick else args.minutes
    epochs = 3 if args.quick else args.epochs
    rows, summaries = {}, {}
    for label, field_dependent in (("charge_aware", True), ("baseline", False)):
        config = load_config(_config(out / "train.extxyz", out / label, field_dependent,
                                     minutes, epochs), args.set)
        result = fit(config)
        rows[label] = _per_molecule(result.model_path, test, args.molecule_key,
                                    args.conformer_key)
        summaries[label] = {
            "dipole_mae_D": float(np.mean([r["dipole_error_D"] for r in rows[label]])),
            "alpha_iso_mape_percent": float(np.mean([r["alpha_iso_error_percent"]
                                                     for r in rows[label]])),
            "alpha_component_mae_A3": float(np.mean([r["alpha_component_mae_A3"]
                                                     for r in rows[label]])),
            "model_seconds_per_molecule": float(np.mean([r["model_seconds"]
                                                         for r in rows[label]])),
            "epochs": result.epochs, "stop_reason": result.stop_reason}
    reference = _reference_seconds(test, args.molecule_key, args.conformer_key,
                                   args.reference_molecules, args.basis, args.density_fit)
    model_seconds = {r["molecule"]: r["model_seconds"] for r in rows["charge_aware"]}
    cost = {name: {"pyscf_finite_field_s": seconds["finite_field"],
                   "pyscf_analytic_s": seconds["analytic"], "model_s": model_seconds[name],
                   "ratio_finite_field": seconds["finite_field"] / model_seconds[name],
                   "ratio_analytic": seconds["analytic"] / model_seconds[name]}
            for name, seconds in reference.items()}
    _plot(rows, out / "parity.png")
    results = {"command": reproduce_command("response_g2.py"), "machine": machine_info(),
               "n_train_structures": len(train), "n_test_structures": len(test),
               "n_train_molecules": len({a.info[args.molecule_key] for a in train}),
               "held_out_molecules": held_out, "summary": summaries, "per_molecule": rows,
               "cost": cost, "targets": {"alpha_iso_mape_percent": 5.0, "dipole_mae_D": 0.1}}
    results["overrides"] = args.set
    print(write_results(NAME, results, out))
    for label, summary in summaries.items():
        print(label, summary)
    print("cost", cost)


if __name__ == "__main__":
    main()
