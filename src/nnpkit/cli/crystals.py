"""``nnpkit crystal eos|elastic|phonons|qha``: crystal properties with any calculator."""

from __future__ import annotations

import argparse
import json

__all__ = ["register"]


def _setup(args: argparse.Namespace) -> tuple:
    import torch

    from nnpkit.apps.crystals.inputs import read_structure
    from nnpkit.labeling.reference import resolve_calculator

    dtype = {"float32": torch.float32, "float64": torch.float64}[args.dtype]
    return read_structure(args.structure), resolve_calculator(args.calculator, args.device,
                                                              dtype)


def _print(summary: dict, args: argparse.Namespace, lines: list[str]) -> int:
    if args.json:
        print(json.dumps(summary))
    else:
        print("\n".join(lines + [f"plots: {', '.join(summary.get('plots', []))}"]
                        if summary.get("plots") else lines))
    return 0


def _eos(args: argparse.Namespace) -> int:
    from nnpkit.apps.crystals.workflow import eos_summary

    atoms, calculator = _setup(args)
    summary = eos_summary(atoms, calculator, volume_range=args.volume_range,
                          n_points=args.points, out_dir=args.out,
                          check_elastic=not args.no_elastic_check)
    lines = [f"{name:16s} V0 {fit['V0_A3_per_atom']:.4f} Å³/atom  E0 "
             f"{fit['E0_eV_per_atom']:.5f} eV/atom  B0 {fit['B0_GPa']:.2f} GPa  B0' "
             f"{fit['B0_prime']:.3f}" for name, fit in summary["fits"].items()]
    if "bulk_modulus_check" in summary:
        check = summary["bulk_modulus_check"]
        lines.append(f"B from elastic constants {check['formula']}: "
                     f"{check['B_elastic_GPa']:.2f} GPa ({check['relative_difference']:.2%})")
    return _print(summary, args, lines)


def _elastic(args: argparse.Namespace) -> int:
    import numpy as np

    from nnpkit.apps.crystals.workflow import elastic_summary

    atoms, calculator = _setup(args)
    summary = elastic_summary(atoms, calculator, magnitudes=args.strains)
    matrix = np.array(summary["elastic_constants_GPa"])
    lines = ["relaxed-ion C (GPa):"] + ["  " + " ".join(f"{v:8.2f}" for v in row)
                                         for row in matrix]
    lines += [f"B_Hill {summary['bulk_modulus_hill_GPa']:.2f} GPa, G_Hill "
              f"{summary['shear_modulus_hill_GPa']:.2f} GPa, E {summary['youngs_modulus_GPa']:.2f}"
              f" GPa, nu {summary['poisson_ratio']:.3f}",
              "Born stable" if summary["born_stable"] else
              f"Born UNSTABLE: {'; '.join(summary['born_failing'])}",
              f"symmetry {summary['symmetry']['space_group']}: deviation "
              f"{summary['symmetry']['max_deviation_GPa']:.3f} GPa"]
    return _print(summary, args, lines)


def _phonons(args: argparse.Namespace) -> int:
    from nnpkit.apps.crystals.workflow import phonon_summary

    atoms, calculator = _setup(args)
    summary = phonon_summary(atoms, calculator, supercell=args.supercell,
                             min_supercell_width_A=args.min_width, mesh=args.mesh,
                             out_dir=args.out)
    lines = [f"{label:3s} " + " ".join(f"{f:7.3f}" for f in point["frequencies_THz"]) + " THz"
             for label, point in summary["special_points"].items()]
    lines.append(f"imaginary modes: {len(summary['imaginary_modes'])}")
    return _print(summary, args, lines)


def _qha(args: argparse.Namespace) -> int:
    from nnpkit.apps.crystals.workflow import qha_summary

    atoms, calculator = _setup(args)
    summary = qha_summary(atoms, calculator, supercell=args.supercell,
                          min_supercell_width_A=args.min_width, mesh=args.mesh,
                          t_max_K=args.t_max, n_volumes=args.volumes,
                          md_temperatures_K=args.md_temperatures,
                          md_steps=args.md_steps, out_dir=args.out)
    at = summary["at_reference_temperature"]
    lines = [f"QHA at {at['temperature_K']:.0f} K: alpha {at['linear_expansion_per_K']:.3e} /K "
             f"(classical {at['classical_linear_expansion_per_K']:.3e} /K), V "
             f"{at['volume_A3_per_atom']:.4f} Å³/atom"]
    if "npt_md" in summary:
        md = summary["npt_md"]
        lines.append(f"NPT MD: alpha {md['linear_expansion_per_K']:.3e} ± "
                     f"{md['linear_expansion_stderr_per_K']:.1e} /K")
    return _print(summary, args, lines)


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``crystal`` with its ``eos``, ``elastic``, ``phonons`` and ``qha`` subcommands."""
    crystal = commands.add_parser("crystal", help="EOS, elastic constants, phonons, QHA")
    sub = crystal.add_subparsers(dest="crystal_command", required=True)
    eos = sub.add_parser("eos", help="E(V), P(V), Birch-Murnaghan and Vinet fits")
    elastic = sub.add_parser("elastic", help="6x6 elastic tensor, moduli, Born stability")
    phonons = sub.add_parser("phonons", help="phonon bands, DOS, thermodynamics (phonopy)")
    qha = sub.add_parser("qha", help="quasi-harmonic thermal expansion (+ NPT MD check)")
    for parser, handler in ((eos, _eos), (elastic, _elastic), (phonons, _phonons), (qha, _qha)):
        parser.add_argument("structure", help="a file ASE reads, or a bulk spec: Cu:fcc, "
                                              "Cu:fcc:3.61, Cu:fcc:cubic, Ti:hcp")
        parser.add_argument("--calculator", required=True, metavar="MODEL_OR_NAME",
                            help="emt, gfn2, gfn1, <functional>/<basis>, or an nnpkit model "
                                 "file, run directory or committee")
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument("--out", default="runs/crystal", help="directory of the PNGs")
        parser.add_argument("--device", default="cpu", help="torch device (nnpkit models)")
        parser.add_argument("--dtype", choices=["float32", "float64"], default="float64",
                            help="precision of an nnpkit model (default float64)")
        parser.set_defaults(handler=handler)
    eos.add_argument("--volume-range", type=float, default=0.06,
                     help="relative half-width of the volume grid")
    eos.add_argument("--points", type=int, default=9, help="number of volumes")
    eos.add_argument("--no-elastic-check", action="store_true",
                     help="skip the B0 vs elastic-constants check")
    elastic.add_argument("--strains", type=float, nargs="+",
                         default=[0.0025, 0.005, 0.0075, 0.01],
                         help="strain magnitudes, each applied with both signs")
    for parser in (phonons, qha):
        parser.add_argument("--supercell", type=int, nargs=3, default=None,
                            metavar=("N1", "N2", "N3"), help="supercell repeats")
        parser.add_argument("--min-width", type=float, default=10.0,
                            help="smallest supercell width, Å (refused below)")
        parser.add_argument("--mesh", type=int, nargs=3, default=[16, 16, 16],
                            metavar=("M1", "M2", "M3"), help="q-mesh of DOS and thermodynamics")
    qha.add_argument("--t-max", type=float, default=1000.0, help="highest temperature, K")
    qha.add_argument("--volumes", type=int, default=9, help="EOS volumes (>= 5)")
    qha.add_argument("--md-temperatures", type=float, nargs="*", default=[],
                     help="NPT-MD temperatures (K) for the cross-check; none: no MD")
    qha.add_argument("--md-steps", type=int, default=4000, help="NPT-MD production steps")
