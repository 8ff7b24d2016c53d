"""``nnpkit rates neb|tof``: barriers and saddle checks on any calculator, and the
microkinetic turnover frequency with the potential's uncertainty carried through."""

from __future__ import annotations

import argparse
import json

from nnpkit.cli.config_command import add_config_arguments

__all__ = ["register"]


def _neb(args: argparse.Namespace) -> int:
    from nnpkit.apps.rates.network import run_rates_neb

    overrides = [*args.set, "progress=false"] if args.json else args.set
    summary = run_rates_neb(args.config, overrides)
    print(json.dumps(summary, indent=None if args.json else 2))
    return 0 if summary.get("energies_file") else 1


def _tof(args: argparse.Namespace) -> int:
    from nnpkit.apps.rates.tof import tof_report

    report = tof_report(args.config, args.out, overrides=args.set,
                        progress=False if args.json else None)
    print(json.dumps(report, indent=None if args.json else 2))
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``rates`` with its ``neb`` and ``tof`` subcommands to ``commands``."""
    rates = commands.add_parser("rates", help="barriers, rates and turnover frequencies")
    rates_commands = rates.add_subparsers(dest="rates_command", required=True)
    neb = rates_commands.add_parser(
        "neb", help="NEB, saddle check and energies of a reaction network (NebNetworkConfig); "
                    "exit code 1 when the network is incomplete")
    tof = rates_commands.add_parser(
        "tof", help="steady-state microkinetics: TOF with percentiles, coverages, degree of "
                    "rate control, apparent activation energy, orders (TofConfig)")
    tof.add_argument("--out", default=None,
                     help="output directory (default: the config's output)")
    for parser, handler in ((neb, _neb), (tof, _tof)):
        add_config_arguments(parser, handler, "calculator=emt")
