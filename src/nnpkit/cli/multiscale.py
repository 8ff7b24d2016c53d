"""``nnpkit multiscale run|patch-test``: an atomistic region coupled to finite elements."""

from __future__ import annotations

import argparse
import json

from nnpkit.cli.config_command import add_config_arguments

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from nnpkit.apps.multiscale.workflow import multiscale_run

    overrides = [*args.set, "progress=false"] if args.json else args.set
    print(json.dumps(multiscale_run(args.config, overrides), indent=None if args.json else 2))
    return 0


def _patch_test(args: argparse.Namespace) -> int:
    from nnpkit.apps.multiscale.workflow import multiscale_patch_test

    overrides = [*args.set, "progress=false"] if args.json else args.set
    print(json.dumps(multiscale_patch_test(args.config, overrides),
                     indent=None if args.json else 2))
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``multiscale`` with its ``run`` and ``patch-test`` subcommands to ``commands``."""
    multiscale = commands.add_parser("multiscale", help="atomistic/continuum coupling "
                                                        "(blended quasicontinuum)")
    sub = multiscale.add_subparsers(dest="multiscale_command", required=True)
    run = sub.add_parser("run", help="spherical indentation of fcc(100) with the coupled "
                                     "model and the fully atomistic reference (MultiscaleConfig)")
    patch = sub.add_parser("patch-test", help="ghost forces of bqce, bqcf and sharp coupling "
                                              "under uniform strains (PatchTestConfig)")
    add_config_arguments(run, _run, "coupling=bqcf")
    add_config_arguments(patch, _patch_test, "blend_widths_A=[5,10]")
