"""``nnpkit growth run|barriers``: kinetic Monte Carlo growth and its barrier model."""

from __future__ import annotations

import argparse
import json

from nnpkit.cli.config_command import add_config_arguments

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from nnpkit.apps.growth.config import GrowthRunConfig, load_growth_config
    from nnpkit.apps.growth.workflow import run_growth

    config = load_growth_config(args.config, GrowthRunConfig, args.set)
    if args.json:
        config = config.model_copy(update={"progress": False})
    summary = run_growth(config)
    summary.pop("series")
    if args.json:
        print(json.dumps(summary))
    else:
        print(json.dumps(summary, indent=2))
    return 0


def _barriers(args: argparse.Namespace) -> int:
    from nnpkit.apps.growth.config import BarrierConfig, load_growth_config
    from nnpkit.apps.growth.workflow import build_barriers

    summary = build_barriers(load_growth_config(args.config, BarrierConfig, args.set))
    print(json.dumps(summary, indent=None if args.json else 2))
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``growth`` with its ``run`` and ``barriers`` subcommands to ``commands``."""
    growth = commands.add_parser("growth", help="crystal growth by kinetic Monte Carlo")
    growth_commands = growth.add_subparsers(dest="growth_command", required=True)
    run = growth_commands.add_parser("run", help="run the kMC of a YAML config (GrowthRunConfig)")
    barriers = growth_commands.add_parser(
        "barriers", help="NEB barrier catalogue + barrier network (BarrierConfig)")
    for parser, handler in ((run, _run), (barriers, _barriers)):
        add_config_arguments(parser, handler, "lattice_size=64", json_help="print one JSON line")
