"""The arguments of every config subcommand: ``CONFIG.yaml [--set KEY=VALUE]... [--json]``."""

from __future__ import annotations

import argparse
from collections.abc import Callable

__all__ = ["add_config_arguments"]


def add_config_arguments(parser: argparse.ArgumentParser,
                         handler: Callable[[argparse.Namespace], int],
                         override_example: str, json_help: str = "print one JSON object"
                         ) -> argparse.ArgumentParser:
    """Give ``parser`` the YAML config argument, repeatable ``--set`` overrides and
    ``--json``, and make ``handler`` its entry point; returns ``parser``."""
    parser.add_argument("config", help="YAML config")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help=f"override a config value, e.g. {override_example}")
    parser.add_argument("--json", action="store_true", help=json_help)
    parser.set_defaults(handler=handler)
    return parser
