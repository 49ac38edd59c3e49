"""`xnat-monai …`: one parser, each area of the package adds its own verbs.

Every area module exposes `register(subparsers)`; a verb's handler takes the parsed
arguments and returns an exit code. Heavy imports happen inside handlers, so `--help` and
the admin verbs start fast on a machine without torch.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from xnat_plugin import __version__
from xnat_plugin.errors import UserError
from xnat_plugin.log import configure_logging

log = logging.getLogger("xnat-monai")

# Modules whose `register(subparsers)` adds verbs, in the order `--help` lists them.
VERB_MODULES = (
    "xnat_plugin.demo.cli",
    "xnat_plugin.sandbox.cli",
    "xnat_plugin.commands.cli",
    "xnat_plugin.admin.cli",
    "xnat_plugin.runner.cli",
    "xnat_plugin.models.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xnat-monai",
        description="MONAI train / infer / evaluate as XNAT Container Service commands.",
    )
    parser.add_argument("--version", action="version", version=f"xnat-monai {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB")
    for name in VERB_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(getattr(args, "verbose", False))
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args) or 0)
    except UserError as exc:
        log.error("%s", exc)
        return exc.exit_code
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
