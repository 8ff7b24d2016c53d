"""Reference dipoles and polarizabilities of the G2 molecules (H, C, N, O, F) through the
labelling farm, exported to extxyz with the molecule's name for held-out splits.

    OMP_NUM_THREADS=1 python benchmarks/response_g2_data.py [--max-molecules N]
        [--molecules H2O CH4 ...] [--closed-shell] [--max-atoms N] [--conformers 2]
        [--temperature-K 300]
        [--basis aug-cc-pvdz] [--functional pbe] [--density-fit]
        [--polarizability-method finite_field|analytic] [--workers 1] [--out PATH]

The molecules are those of ``ase.collections.g2`` made of H, C, N, O and F only, with at
least 2 atoms (93; 20 of them open-shell, labelled unrestricted with the spin of G2's
magnetic moments; G2 has no ions, so every charge is 0). Each contributes its G2
equilibrium geometry (``info["conformer"] = 0``) and ``--conformers`` thermal distortions:
normal-mode samples at ``--temperature-K`` around its GFN2-xTB minimum, with the GFN2-xTB
Hessian (:func:`nnpkit.labeling.normal_mode_samples`). All are labelled with
``<functional>/<basis>`` and ``field_response=True`` (energy, forces, dipole e·Å,
polarizability e·Å²/V) by :func:`nnpkit.labeling.label_to_store` on a local Dask cluster
of ``--workers`` single-threaded processes, into an SQLite store next to ``--out``
(rerunning resumes: nothing stored is computed again), and exported to ``--out`` with
``info["molecule"]`` (the G2 name), ``info["conformer"]`` and ``info["spin"]`` (2S).
``--polarizability-method analytic`` (pyscf-properties, coupled-perturbed SCF) applies to
the closed shells; open shells always use finite fields.

It prints the seconds per label (one SCF, its gradient and the response; 1 thread per
worker) of each molecule and, from a power law in the number of basis functions fitted
to those, the estimated single-worker time of the whole set. Writes
``benchmarks/out/response_g2_data.json``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import set_thread_env  # noqa: E402

set_thread_env(1)

import numpy as np  # noqa: E402
from common import OUT_DIR, machine_info, markdown_table, reproduce_command, write_results  # noqa: E402

ELEMENTS = frozenset("HCNOF")
RESPONSE = ("energy", "forces", "dipole", "polarizability")


def eligible_molecules() -> list[tuple[str, object, int]]:
    """``(g2 name, Atoms, spin 2S)`` of the G2 molecules of H, C, N, O, F with ≥ 2 atoms."""
    from ase.collections import g2

    out = []
    for name in g2.names:
        atoms = g2[name]
        if len(atoms) < 2 or not set(atoms.get_chemical_symbols()) <= ELEMENTS:
            continue
        if abs(float(atoms.get_initial_charges().sum())) > 1e-9:
            raise SystemExit(f"{name}: G2 gives a charge; this script expects neutral ones")
        spin = int(round(float(atoms.get_initial_magnetic_moments().sum())))
        out.append((name, atoms, spin))
    return out


def n_basis(atoms: object, basis: str, spin: int) -> int:
    """Number of basis functions of the molecule in ``basis``."""
    from pyscf import gto

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mol = gto.M(atom=[(s, tuple(p)) for s, p in zip(atoms.get_chemical_symbols(),
                                                        atoms.positions, strict=True)],
                    basis=basis, spin=spin, unit="Angstrom", verbose=0)
    return int(mol.nao)


def structures_of(name: str, atoms: object, spin: int, n_conformers: int,
                  temperature_K: float, seed: int) -> list:
    """The G2 geometry and ``n_conformers`` GFN2 normal-mode samples, each with its info."""
    from nnpkit.labeling import make_reference_calculator, normal_mode_samples

    base = atoms.copy()
    base.set_initial_magnetic_moments(None)
    base.info = {}
    samples = []
    if n_conformers > 0:
        options = {"uhf": spin} if spin else {}
        samples = normal_mode_samples(base, make_reference_calculator("gfn2", **options),
                                      temperature_K, n_conformers, seed=seed)
    out = []
    for k, structure in enumerate([base, *samples]):
        structure = structure.copy()
        structure.calc = None
        structure.info = {"molecule": name, "conformer": k, "spin": spin}
        out.append(structure)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-molecules", type=int, default=None,
                        help="label only the first N eligible molecules (default: all 93)")
    parser.add_argument("--molecules", nargs="+", default=None, metavar="NAME",
                        help="G2 names to label instead (e.g. H2O CH4 C2H6 C6H6)")
    parser.add_argument("--conformers", type=int, default=2,
                        help="thermal distortions per molecule besides its G2 geometry")
    parser.add_argument("--temperature-K", type=float, default=300.0,
                        help="temperature of the normal-mode samples, K")
    parser.add_argument("--basis", default="aug-cc-pvdz", help="basis set")
    parser.add_argument("--functional", default="pbe", help="exchange-correlation functional")
    parser.add_argument("--density-fit", action="store_true", help="density fitting")
    parser.add_argument("--polarizability-method", default="finite_field",
                        choices=("finite_field", "analytic"),
                        help="for the closed shells (open shells: finite_field)")
    parser.add_argument("--closed-shell", action="store_true",
                        help="only the closed-shell molecules (spin 0)")
    parser.add_argument("--max-atoms", type=int, default=None,
                        help="only molecules of at most this many atoms")
    parser.add_argument("--workers", type=int, default=1, help="Dask worker processes")
    parser.add_argument("--seed", type=int, default=0, help="seed of the normal-mode samples")
    parser.add_argument("--out", type=Path, default=None,
                        help="extxyz file (default benchmarks/out/response_g2_<basis>.xyz); "
                             "the store is the same path with .db")
    args = parser.parse_args()
    from nnpkit.labeling import DatasetStore, label_to_store, parse_method

    molecules = eligible_molecules()
    n_eligible = len(molecules)
    if args.molecules:
        known = {name for name, _, _ in molecules}
        unknown = sorted(set(args.molecules) - known)
        if unknown:
            raise SystemExit(f"not eligible G2 names: {unknown}")
        molecules = [m for m in molecules if m[0] in args.molecules]
    if args.closed_shell:
        molecules = [m for m in molecules if m[2] == 0]
    if args.max_atoms is not None:
        molecules = [m for m in molecules if len(m[1]) <= args.max_atoms]
    if args.max_molecules is not None:
        molecules = molecules[:args.max_molecules]
    out = args.out or OUT_DIR / f"response_g2_{args.basis.replace('*', 's')}.xyz"
    out.parent.mkdir(parents=True, exist_ok=True)
    db = out.with_suffix(".db")

    by_spin: dict[int, list] = defaultdict(list)
    for k, (name, atoms, spin) in enumerate(molecules):
        by_spin[spin] += structures_of(name, atoms, spin, args.conformers,
                                       args.temperature_K, args.seed + k)
    seconds: dict[str, list[float]] = defaultdict(list)
    for spin, group in sorted(by_spin.items()):
        method = args.polarizability_method if spin == 0 else "finite_field"
        spec = parse_method(f"{args.functional}/{args.basis}", field_response=True, spin=spin,
                            density_fit=args.density_fit, polarizability_method=method)

        def record(entry: object, group: list = group) -> None:
            if entry.state == "computed":
                seconds[group[entry.index].info["molecule"]].append(entry.seconds)

        report = label_to_store(group, spec, db, properties=RESPONSE, n_workers=args.workers,
                                on_record=record)
        print(f"# spin {spin}: {report.n_computed} computed, {report.n_existing} stored "
              f"before, {report.n_failed} failed {report.failures}", file=sys.stderr)
    n_written = DatasetStore(db).export(out)

    nao = {name: n_basis(atoms, args.basis, spin) for name, atoms, spin in eligible_molecules()}
    rows = [{"molecule": name, "n_basis": nao[name], "labels": len(times),
             "s_per_label": float(np.mean(times))} for name, times in seconds.items()]
    results = {"benchmark": "response_g2_data", "machine": machine_info(),
               "command": reproduce_command("response_g2_data.py"),
               "method": f"{args.functional}/{args.basis}", "density_fit": args.density_fit,
               "polarizability_method": args.polarizability_method,
               "conformers": args.conformers, "n_eligible": n_eligible,
               "n_exported": n_written, "out": str(out), "timings": rows}
    if len({row["n_basis"] for row in rows}) >= 2:  # cost ≈ c · n_basis^p
        power, log_c = np.polyfit(np.log([r["n_basis"] for r in rows]),
                                  np.log([r["s_per_label"] for r in rows]), 1)
        total_s = (1 + args.conformers) * sum(np.exp(log_c) * n ** power for n in nao.values())
        results.update(cost_power=float(power), estimated_total_h=float(total_s / 3600.0))
        print(f"estimated: s/label ~ n_basis^{power:.2f}; all {n_eligible} molecules x "
              f"{1 + args.conformers} structures: {total_s / 3600.0:.1f} h on one worker")
    path = write_results("response_g2_data", results)
    print(markdown_table(rows, [("molecule", "molecule"), ("n_basis", "basis functions"),
                                ("labels", "labels"), ("s_per_label", "s/label")]))
    print(f"{n_written} structures in {out}; {path}")


if __name__ == "__main__":
    main()
