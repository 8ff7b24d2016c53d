"""Crystal properties of a potential trained on EMT data against EMT itself (Cu, Al, Ni).

Trains a BPNN (6 Å cutoff) on ``fcc_metals_emt_dataset`` (bulk fcc Cu, Al, Ni: strained,
compressed/expanded and rattled cells with EMT energies, forces and stresses), then runs
the same :mod:`nnpkit.apps.crystals` workflows with the model (float64 inference) and with
EMT: C11, C12, C44 (relaxed-ion, stress-strain), B0 (Birch-Murnaghan EOS), phonon
frequencies at X and L (3x3x3 cubic supercell, 108 atoms). Targets (issue 15): elastic
constants within 3 %, B0 within 2 %, X/L frequencies within 3 %. Also the wall time of
the phonon + QHA workflow on Cu for both (ratio model / EMT) and, for Cu, the QHA
thermal expansion at 300 K beside NPT MD.

    OMP_NUM_THREADS=1 python benchmarks/crystals_accuracy.py                 # ~15 min
    OMP_NUM_THREADS=1 python benchmarks/crystals_accuracy.py --quick         # smoke run
    OMP_NUM_THREADS=1 python benchmarks/crystals_accuracy.py --model PATH    # no training
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import OUT_DIR, machine_info, machine_summary, set_thread_env  # noqa: E402

ELEMENTS = ("Cu", "Al", "Ni")
TARGETS = {"C11_GPa": 0.03, "C12_GPa": 0.03, "C44_GPa": 0.03, "B0_GPa": 0.02,
           "X_TA_THz": 0.03, "X_LA_THz": 0.03, "L_TA_THz": 0.03, "L_LA_THz": 0.03}


def properties(symbol: str, calculator, mesh: list[int]) -> dict:
    """C11, C12, C44, B0, V0 and the X and L frequencies of one element."""
    from ase.build import bulk

    from nnpkit.apps.crystals import elastic_tensor, equation_of_state, phonons, relax

    atoms = bulk(symbol, "fcc", cubic=True)
    c = elastic_tensor(bulk(symbol, "fcc"), calculator).stiffness_GPa
    eos = equation_of_state(bulk(symbol, "fcc"), calculator).fits["birch_murnaghan"]
    unit = relax(atoms, calculator, cell="full", keep_symmetry=True, label=symbol)
    ph = phonons(unit, calculator, supercell=(3, 3, 3), mesh=mesh)
    x, l = ph.special_points["X"]["frequencies_THz"], ph.special_points["L"]["frequencies_THz"]
    return {"C11_GPa": c[0, 0], "C12_GPa": c[0, 1], "C44_GPa": c[3, 3],
            "B0_GPa": eos.B0_GPa, "V0_A3_per_atom": eos.V0_A3_per_atom, "B0_prime": eos.B0_prime,
            "X_TA_THz": x[0], "X_LA_THz": x[2], "L_TA_THz": l[0], "L_LA_THz": l[2]}


def workflow_time(calculator, mesh: list[int], md_temperatures: list[float],
                  md_steps: int) -> dict:
    """Phonons + QHA on Cu (timed), and the NPT-MD cross-check (timed apart)."""
    from ase.build import bulk

    from nnpkit.apps.crystals import phonon_summary, qha_summary

    atoms = bulk("Cu", "fcc", cubic=True)
    started = time.perf_counter()
    phonon_summary(atoms, calculator, supercell=(3, 3, 3), mesh=mesh)
    qha = qha_summary(atoms, calculator, supercell=(3, 3, 3), mesh=mesh, t_max_K=800.0)
    workflow_s = time.perf_counter() - started
    record = {"phonon_qha_wall_s": workflow_s, "qha_300K": qha["at_reference_temperature"]}
    if md_temperatures:
        from nnpkit.apps.crystals import npt_thermal_expansion, relax

        unit = relax(atoms, calculator, cell="full", keep_symmetry=True)
        started = time.perf_counter()
        npt = npt_thermal_expansion(unit, calculator, temperatures_K=md_temperatures,
                                    steps=md_steps, equilibration_steps=md_steps // 4,
                                    min_width_A=7.0)
        record["npt_md"] = npt.to_dict()
        record["npt_md_wall_s"] = time.perf_counter() - started
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a trained model (skips training)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a smoke run")
    parser.add_argument("--n-per-element", type=int, default=120)
    parser.add_argument("--time-limit-min", type=float, default=6.0)
    parser.add_argument("--md-steps", type=int, default=4000)
    parser.add_argument("--md-temperatures", type=float, nargs="*", default=[100, 300, 500])
    args = parser.parse_args()
    set_thread_env(1)
    if args.quick:
        args.n_per_element, args.time_limit_min, args.md_steps = 10, 0.2, 100

    import torch
    from ase.calculators.emt import EMT

    from nnpkit.calculators import load_calculator

    torch.set_num_threads(1)
    started = time.perf_counter()
    model_path = args.model
    n_train = None
    if model_path is None:
        from common import train_bpnn

        from nnpkit.labeling.metal_datasets import fcc_metals_emt_dataset

        structures = fcc_metals_emt_dataset(ELEMENTS, n_per_element=args.n_per_element)
        n_train = len(structures)
        model_path = train_bpnn(
            structures, OUT_DIR / "models" / ("crystals_quick" if args.quick else "crystals"),
            time_limit_min=args.time_limit_min, max_epochs=100000, cutoff_A=6.0,
            training_overrides={"early_stopping_patience": 100}, num_threads=1)
    training_s = time.perf_counter() - started
    model = load_calculator(model_path, dtype=torch.float64)
    mesh = [8, 8, 8] if args.quick else [16, 16, 16]
    rows = []
    for symbol in ELEMENTS:
        reference, predicted = properties(symbol, EMT(), mesh), properties(symbol, model, mesh)
        for key in reference:
            error = (predicted[key] - reference[key]) / reference[key]
            rows.append({"element": symbol, "quantity": key, "emt": reference[key],
                         "model": predicted[key], "error": error, "target": TARGETS.get(key),
                         "met": None if key not in TARGETS else abs(error) <= TARGETS[key]})
    timing = {"emt": workflow_time(EMT(), mesh, args.md_temperatures, args.md_steps),
              "model": workflow_time(model, mesh, args.md_temperatures, args.md_steps)}
    timing["ratio_model_over_emt"] = (timing["model"]["phonon_qha_wall_s"]
                                      / timing["emt"]["phonon_qha_wall_s"])
    info = machine_info()
    results = {"machine": info, "model": str(model_path), "n_structures": n_train,
               "training_and_setup_s": training_s, "rows": rows, "timing": timing}
    from common import write_results

    path = write_results("crystals_accuracy_quick" if args.quick else "crystals_accuracy",
                         results)
    print(f"# {machine_summary(info)}\n# results: {path}")
    print("| element | quantity | EMT | model | error | target | met |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        target = f"{row['target']:.0%}" if row["target"] else ""
        met = {None: "", True: "yes", False: "**no**"}[row["met"]]
        print(f"| {row['element']} | {row['quantity']} | {row['emt']:.4g} | "
              f"{row['model']:.4g} | {row['error']:+.2%} | {target} | {met} |")
    for name in ("emt", "model"):
        record = timing[name]
        line = (f"{name}: phonons + QHA {record['phonon_qha_wall_s']:.1f} s; QHA alpha(300 K) "
                f"{record['qha_300K']['linear_expansion_per_K']:.3e} /K (classical "
                f"{record['qha_300K']['classical_linear_expansion_per_K']:.3e})")
        if "npt_md" in record:
            md = record["npt_md"]
            line += (f"; NPT MD alpha {md['linear_expansion_per_K']:.3e} ± "
                     f"{md['linear_expansion_stderr_per_K']:.1e} /K "
                     f"({record['npt_md_wall_s']:.0f} s)")
        print(line)
    print(f"ratio model / EMT (phonons + QHA): {timing['ratio_model_over_emt']:.2f}")


if __name__ == "__main__":
    main()
