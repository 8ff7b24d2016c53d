"""``nnpkit solvation umbrella|metad``: coordination-number free-energy profiles of an ion
in water by batched umbrella sampling + MBAR or well-tempered metadynamics."""

from __future__ import annotations

import argparse
import json

from nnpkit.cli.config_command import add_config_arguments

__all__ = ["register"]


def _umbrella(args: argparse.Namespace) -> int:
    from nnpkit.apps.solvation.workflow import solvation_umbrella

    overrides = [*args.set, "progress=false"] if args.json else args.set
    summary = solvation_umbrella(args.config, overrides)
    print(json.dumps(summary, indent=None if args.json else 2))
    return 0 if summary.get("status") != "stopped" else 1


def _metad(args: argparse.Namespace) -> int:
    from nnpkit.apps.solvation.workflow import solvation_metad

    overrides = [*args.set, "progress=false"] if args.json else args.set
    summary = solvation_metad(args.config, overrides)
    print(json.dumps(summary, indent=None if args.json else 2))
    return 0 if summary.get("status") != "stopped" else 1


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``solvation`` with its ``umbrella`` and ``metad`` subcommands to ``commands``."""
    solvation = commands.add_parser("solvation", help="ion solvation free-energy profiles")
    solvation_commands = solvation.add_subparsers(dest="solvation_command", required=True)
    umbrella = solvation_commands.add_parser(
        "umbrella", help="umbrella windows on the coordination number, all in one batch, "
                         "MBAR profile (UmbrellaConfig); exit code 1 if the committee guard "
                         "stopped the run")
    metad = solvation_commands.add_parser(
        "metad", help="well-tempered metadynamics with walkers in one batch (MetadConfig)")
    for parser, handler in ((umbrella, _umbrella), (metad, _metad)):
        add_config_arguments(parser, handler, "steps=2000")
