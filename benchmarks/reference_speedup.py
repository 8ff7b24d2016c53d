"""Cost of one energy + forces evaluation on ethanol: nnpkit vs its reference methods.

Methods, each on the same rattled ethanol configurations (``molecule("CH3CH2OH")``, 9
atoms, Gaussian rattle of 0.03 Å, one seed per configuration):

- nnpkit BPNN (float32, CPU), trained for ~2 min on ``ethanol_xtb_dataset(300)``
  (GFN2-xTB labels) unless ``--model`` is given, through the calculator's default compiled
  path and, side by side, its autograd path (``fast_path=False``);
- GFN2-xTB through tblite (the labels the model learnt);
- PBE/6-31G* with analytic gradients through PySCF (``dft.RKS`` + ``nuc_grad_method``),
  skipped with a note when PySCF is not installed (``pip install pyscf``).

Each evaluation starts from a fresh geometry (no cached results); methods are timed over
``--min-evals`` evaluations or ``--min-seconds``, whichever takes longer, after a warm-up
evaluation, cycling through the configurations. Reported: median seconds per evaluation
and the speed-up of nnpkit, reference seconds / nnpkit seconds.

Threads: ``--threads`` (default 1) sets OMP_NUM_THREADS, MKL_NUM_THREADS and
OPENBLAS_NUM_THREADS before any numerical library loads, torch.set_num_threads and
PySCF's ``lib.num_threads``, so every method gets the same cores.

    python benchmarks/reference_speedup.py                     # trains the model first
    python benchmarks/reference_speedup.py --model runs/ethanol --threads 2
    python benchmarks/reference_speedup.py --quick             # smoke run
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import common

HARTREE_EV = 27.211386245988  # CODATA 2018, as ASE
BOHR_A = 0.529177210903

#: (energy eV, forces [n_atoms, 3] eV/Å) of one structure
Evaluation = Callable[[Any], tuple[float, Any]]


def rattled_ethanol(n_configs: int, stdev_A: float = 0.03, seed: int = 0) -> list:
    """``n_configs`` copies of ASE's ethanol, each rattled with its own seed."""
    from ase.build import molecule

    configs = []
    for index in range(n_configs):
        atoms = molecule("CH3CH2OH")
        atoms.rattle(stdev=stdev_A, seed=seed + index)
        configs.append(atoms)
    return configs


def ase_evaluation(calculator) -> Evaluation:
    """Energy and forces from an ASE calculator, with its cache cleared first."""

    def evaluate(atoms):
        atoms = atoms.copy()
        calculator.reset()
        atoms.calc = calculator
        return atoms.get_potential_energy(), atoms.get_forces()

    return evaluate


def pyscf_evaluation(basis: str, xc: str, threads: int) -> tuple[Evaluation, str]:
    """PySCF RKS energy and analytic forces, and PySCF's version."""
    import pyscf
    from pyscf import dft, gto, lib

    lib.num_threads(threads)

    def evaluate(atoms):
        mol = gto.M(atom=[(symbol, tuple(position)) for symbol, position in
                          zip(atoms.get_chemical_symbols(), atoms.positions, strict=True)],
                    basis=basis, unit="Angstrom", charge=0, spin=0, verbose=0)
        mean_field = dft.RKS(mol).set(xc=xc)
        energy_hartree = mean_field.kernel()
        if not mean_field.converged:
            raise RuntimeError("PySCF SCF did not converge")
        gradient = mean_field.nuc_grad_method().kernel()  # [n_atoms, 3], Hartree/Bohr
        return energy_hartree * HARTREE_EV, -gradient * HARTREE_EV / BOHR_A

    return evaluate, pyscf.__version__


def time_method(evaluate: Evaluation, configs: list, min_evals: int, min_seconds: float,
                warmup: int) -> dict[str, Any]:
    """Seconds per evaluation, cycling through ``configs``; also the forces it gave."""
    for index in range(warmup):
        evaluate(configs[index % len(configs)])
    times, forces = [], {}
    started = time.perf_counter()
    index = 0
    while index < min_evals or time.perf_counter() - started < min_seconds:
        atoms = configs[index % len(configs)]
        tick = time.perf_counter()
        _, config_forces = evaluate(atoms)
        times.append(time.perf_counter() - tick)
        forces.setdefault(index % len(configs), config_forces)
        index += 1
    return {**common.summarize_times(times), "times_s": times, "forces": forces}


def batched_nnpkit_seconds_per_structure(model_path: Path, configs: list, batch_size: int,
                                         repeats: int = 5) -> float:
    """Seconds per energy+forces of one structure when ``batch_size`` are evaluated at once.

    The way training, evaluation and screening use the model; the graph build (vesin
    neighbour lists) is included in the time.
    """
    import torch

    from nnpkit.data.graph import atoms_to_graph, collate
    from nnpkit.derivatives import compute_properties
    from nnpkit.models.model_file import load_model

    model = load_model(model_path)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    batch = [configs[k % len(configs)] for k in range(batch_size)]
    timings = []
    for _ in range(repeats + 1):  # the first is warm-up
        started = time.perf_counter()
        graph = collate([atoms_to_graph(atoms, model.cutoff, torch.float32) for atoms in batch])
        compute_properties(model, graph, forces=True)
        timings.append(time.perf_counter() - started)
    return float(statistics.median(timings[1:])) / batch_size


def forces_mae_meV_per_A(forces: dict, reference: dict) -> float | None:
    """Mean absolute force-component difference over configurations both evaluated."""
    import numpy as np

    shared = sorted(set(forces) & set(reference))
    if not shared:
        return None
    differences = np.concatenate([(forces[k] - reference[k]).ravel() for k in shared])
    return float(np.mean(np.abs(differences)) * 1e3)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="nnpkit ethanol model file or run directory; "
                        "default: train a BPNN on ethanol_xtb_dataset(300) for ~2 min first")
    parser.add_argument("--threads", type=int, default=1,
                        help="OMP/MKL/OpenBLAS, torch and PySCF threads (default 1)")
    parser.add_argument("--configs", type=int, default=10, help="rattled configurations")
    parser.add_argument("--min-evals", type=int, default=50,
                        help="evaluations at least, for nnpkit and GFN2-xTB (default 50)")
    parser.add_argument("--min-seconds", type=float, default=5.0,
                        help="timed seconds at least, for nnpkit and GFN2-xTB (default 5)")
    parser.add_argument("--pyscf-evals", type=int, default=3,
                        help="timed PySCF evaluations (default 3)")
    parser.add_argument("--basis", default="6-31G*", help="PySCF basis (default 6-31G*)")
    parser.add_argument("--xc", default="pbe", help="PySCF functional (default pbe)")
    parser.add_argument("--no-pyscf", action="store_true", help="skip PySCF")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: tiny model, few evaluations, one PySCF evaluation")
    parser.add_argument("--out", type=Path, help="result JSON; default benchmarks/out/"
                        "reference_speedup.json (reference_speedup_quick.json with --quick)")
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = common.OUT_DIR / f"reference_speedup{'_quick' if args.quick else ''}.json"
    if args.quick:
        args.configs, args.min_evals, args.min_seconds, args.pyscf_evals = 3, 5, 0.0, 1
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    common.set_thread_env(args.threads)  # before numpy, torch, tblite and PySCF load
    import torch

    import nnpkit
    from nnpkit.labeling.reference import make_reference_calculator

    torch.set_num_threads(args.threads)
    model_path = common.ethanol_model(args.model, quick=args.quick, num_threads=args.threads)
    configs = rattled_ethanol(args.configs)
    methods: dict[str, dict[str, Any]] = {}
    notes: list[str] = []

    def run(name: str, label: str, evaluate: Evaluation, min_evals: int, min_seconds: float,
            warmup: int = 1, **extra: Any) -> None:
        result = time_method(evaluate, configs, min_evals, min_seconds, warmup)
        methods[name] = {"label": label, **extra, **result}
        print(f"# {label}: {result['median_s'] * 1e3:.3g} ms/evaluation "
              f"(median of {result['n']})", file=sys.stderr)

    calculator = nnpkit.load_calculator(str(model_path), dtype=torch.float32)
    run("nnpkit", "nnpkit BPNN (float32, compiled path)", ase_evaluation(calculator),
        args.min_evals, args.min_seconds, model=str(model_path))
    from nnpkit.calculators import NNPCalculator

    autograd = NNPCalculator(nnpkit.load_model(str(model_path)), dtype=torch.float32,
                             fast_path=False)
    run("nnpkit_autograd", "nnpkit BPNN (float32, autograd path)", ase_evaluation(autograd),
        args.min_evals, args.min_seconds, model=str(model_path))
    run("gfn2", "GFN2-xTB (tblite)", ase_evaluation(make_reference_calculator("gfn2")),
        args.min_evals, args.min_seconds)
    if args.no_pyscf:
        notes.append("PySCF skipped (--no-pyscf).")
    else:
        try:
            evaluate, pyscf_version = pyscf_evaluation(args.basis, args.xc, args.threads)
        except ImportError:
            notes.append("PySCF not installed: DFT row skipped (`pip install pyscf`).")
        else:
            run("pyscf", f"{args.xc.upper()}/{args.basis} (PySCF, analytic forces)",
                evaluate, args.pyscf_evals, 0.0, warmup=0 if args.quick else 1,
                pyscf_version=pyscf_version)

    batch_size = 8 if args.quick else 512
    batched_s = batched_nnpkit_seconds_per_structure(model_path, configs, batch_size)
    nnpkit_s = methods["nnpkit"]["median_s"]
    rows = [{"method": f"nnpkit BPNN (float32), batches of {batch_size}",
             "ms_per_eval": 1e3 * batched_s, "range_ms": "–", "n": batch_size,
             "speedup": batched_s / methods["nnpkit"]["median_s"]}]
    for method in methods.values():
        if method is not methods["nnpkit"]:
            rows[0].setdefault("batched_speedup_vs", {})[method["label"]] = (
                method["median_s"] / batched_s)
        rows.append({
            "method": method["label"],
            "ms_per_eval": 1e3 * method["median_s"],
            "range_ms": (f"{common.format_value(1e3 * method['min_s'])}–"
                         f"{common.format_value(1e3 * method['max_s'])}"),
            "n": method["n"],
            "speedup": method["median_s"] / nnpkit_s,
        })
    nnpkit_vs_gfn2 = forces_mae_meV_per_A(methods["nnpkit"]["forces"],
                                          methods["gfn2"]["forces"])
    info = common.machine_info()
    info["pyscf"] = methods.get("pyscf", {}).get("pyscf_version")
    info["pyscf_threads"] = args.threads if "pyscf" in methods else None
    results = {
        "benchmark": "reference_speedup",
        "description": "seconds per energy+forces evaluation of ethanol, nnpkit vs references",
        "settings": {**{k: v for k, v in vars(args).items() if k != "out"},
                     "model": str(model_path), "rattle_stdev_A": 0.03},
        "machine": info,
        "methods": {name: {k: v for k, v in method.items() if k != "forces"}
                    for name, method in methods.items()},
        "nnpkit_forces_mae_vs_gfn2_meV_per_A": nnpkit_vs_gfn2,
        "nnpkit_batched": {"batch_size": batch_size, "seconds_per_structure": batched_s,
                           "speedup_vs": rows[0].get("batched_speedup_vs", {})},
        "rows": rows,
        "notes": notes,
    }
    common.write_results(args.out.stem, results, args.out.parent)

    print("### Cost per energy + forces evaluation: ethanol (9 atoms)\n")
    print(f"Machine: {common.machine_summary(info)}. Model: {model_path}.\n")
    print(common.markdown_table(rows, [
        ("method", "method"), ("ms_per_eval", "ms / evaluation (median)"),
        ("range_ms", "min–max ms"), ("n", "evaluations"),
        ("speedup", "speed-up of nnpkit (method / nnpkit)")]))
    for label, ratio in rows[0].get("batched_speedup_vs", {}).items():
        print(f"\nBatched nnpkit ({batch_size} structures per call) vs {label}: "
              f"{ratio:,.0f}× faster per structure")
    print(f"\nnnpkit forces vs GFN2-xTB on these configurations: MAE "
          f"{nnpkit_vs_gfn2:.0f} meV/Å (the model's own accuracy; see the accuracy "
          "benchmark).")
    for note in notes:
        print(f"\nNote: {note}")
    print(f"\nReproduce: `{common.reproduce_command('reference_speedup.py')}`")
    print(f"\nResults: {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
