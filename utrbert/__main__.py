"""Command-line entry point: ``python -m utrbert <command> ...`` (also installed as ``utrbert``).

Each command lives in its own module, which exposes ``register(subparsers)``: it adds one subparser and sets
``func`` (taking the parsed namespace, returning an exit code) as a default. To add a command, write the module
and append its name to :data:`COMMANDS`; modules are imported only when the parser is built.

>>> build_parser().parse_args(["book", "--profile", "smoke", "--out", "scratch/smoke"]).profile
'smoke'
"""

from __future__ import annotations

import argparse
import importlib
import logging
from collections.abc import Sequence

__all__ = ["COMMANDS", "build_parser", "main"]

COMMANDS: tuple[str, ...] = (
    "utrbert.cli.book",
    "utrbert.cli.finetune",
    "utrbert.cli.attention",
    "utrbert.cli.motifs",
    "utrbert.cli.mutagenesis",
    "utrbert.cli.pretrain",
    "utrbert.cli.predict",
    "utrbert.cli.items",
)
"""Modules that each register one subcommand."""


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every command in :data:`COMMANDS` registered."""
    parser = argparse.ArgumentParser(prog="python -m utrbert", description="utrbert command-line tools.")
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, configure logging and run the chosen command; return its exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
