"""``nnpkit gp`` and ``nnpkit quantum``: learned surfaces and quantum nuclear dynamics.

Thin handlers: parse, call one function of :mod:`nnpkit.apps.quantum.workflow`, print.
Units at this edge: eV, Å, amu (the library converts to atomic units).
"""

from __future__ import annotations

import argparse
import json

__all__ = ["register"]


def _gp(args: argparse.Namespace) -> int:
    from nnpkit.apps.quantum.workflow import fit_gp, parse_params

    summary = fit_gp(args.reference, args.out, active=args.active, budget=args.budget,
                     tolerance_meV=args.tolerance_meV, use_gradients=args.gradients,
                     energy_cutoff_eV=args.energy_cutoff_eV, params=parse_params(args.params),
                     acquisition=args.acquisition, plot=not args.no_plot,
                     progress=not args.no_progress)
    print(json.dumps(summary, indent=None if args.json else 2))
    return 0


def _quantum(args: argparse.Namespace) -> int:
    from nnpkit.apps.quantum.workflow import levels, parse_params, transmission

    params = parse_params(args.params)
    if args.quantum_command == "levels":
        summary = levels(args.potential, args.mass_amu, args.n, params=params, plot=args.plot)
        if args.json:
            print(json.dumps(summary))
        else:
            for index, value in enumerate(summary["levels_eV"]):
                print(f"v={index:3d}  {value:.8f} eV")
            print(f"grid points: {summary['n_points']}")
        return 0
    summary = transmission(args.potential, args.mass_amu, args.energies_eV, params=params,
                           initial_channel=args.initial_channel,
                           progress=not args.no_progress)
    if args.json:
        print(json.dumps(summary))
    else:
        for energy, value in zip(summary["energies_eV"], summary["transmission"], strict=True):
            print(f"E = {energy:.6f} eV   T = {value:.6e}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``gp`` and ``quantum`` subcommands to the ``nnpkit`` parser."""
    gp = commands.add_parser("gp", help="Gaussian-process potential energy surfaces")
    gp_commands = gp.add_subparsers(dest="gp_command", required=True)
    fit = gp_commands.add_parser("fit", help="learn a GP surface from a reference")
    fit.add_argument("--reference", required=True, metavar="NAME|SCAN.yaml",
                     help="built-in potential (morse, eckart, double_well, muller_brown) or "
                          "a scan config (ASE calculator, e.g. GFN2-xTB)")
    fit.add_argument("--params", nargs="*", default=[], metavar="KEY=VALUE",
                     help="built-in parameters in eV/Å, e.g. depth_eV=4.6 r0_A=0.97")
    fit.add_argument("--active", action="store_true",
                     help="active learning (else the budget is placed uniformly)")
    fit.add_argument("--tolerance-meV", dest="tolerance_meV", type=float, default=None,
                     help="stop when the largest weighted std falls below this")
    fit.add_argument("--budget", type=int, default=None,
                     help="largest number of reference calls (default 15, or the scan's)")
    fit.add_argument("--gradients", action="store_true", help="learn from gradients too")
    fit.add_argument("--energy-cutoff-eV", dest="energy_cutoff_eV", type=float, default=None,
                     help="learn where the energy is below this (eV)")
    fit.add_argument("--acquisition", choices=["integrated", "max_std"], default="integrated",
                     help="next point: largest weighted variance reduction or largest std")
    fit.add_argument("--out", required=True, help="GP file to write (.safetensors)")
    fit.add_argument("--no-plot", action="store_true", help="skip the PNG next to --out")
    fit.add_argument("--no-progress", action="store_true", help="no progress bar")
    fit.add_argument("--json", action="store_true", help="print one line of JSON")
    gp.set_defaults(handler=_gp)

    quantum = commands.add_parser("quantum", help="grid quantum dynamics on a surface")
    quantum_commands = quantum.add_subparsers(dest="quantum_command", required=True)
    for name, text in (("levels", "vibrational levels by sinc-DVR diagonalisation"),
                       ("transmission", "transmission probabilities by wavepacket flux")):
        sub = quantum_commands.add_parser(name, help=text)
        sub.add_argument("--potential", required=True, metavar="NAME|GP_FILE",
                         help="built-in potential or a GP file from 'nnpkit gp fit'")
        sub.add_argument("--params", nargs="*", default=[], metavar="KEY=VALUE",
                         help="built-in parameters in eV/Å")
        sub.add_argument("--mass-amu", dest="mass_amu", type=float, required=True,
                         help="mass of the coordinate, amu")
        sub.add_argument("--json", action="store_true", help="print one JSON object")
        if name == "levels":
            sub.add_argument("--n", type=int, default=5, help="number of levels")
            sub.add_argument("--plot", default=None, metavar="PNG",
                             help="write the wavefunctions to this PNG (1D)")
        else:
            sub.add_argument("--energies-eV", dest="energies_eV", type=float, nargs="+",
                             required=True, help="total energies, eV")
            sub.add_argument("--initial-channel", dest="initial_channel", type=int, default=0,
                             help="incoming adiabatic state (multi-state models)")
            sub.add_argument("--no-progress", action="store_true", help="no progress bar")
    quantum.set_defaults(handler=_quantum)
