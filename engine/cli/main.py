"""The ``casework`` command: one root parser, subcommands registered by modules.

Each command module owns its subcommands and exposes ``register(subparsers)``;
each subcommand sets ``func`` (taking the parsed arguments, returning an exit
code). Exit codes: 0 success, 1 the thing checked is invalid or the operation
failed, 2 usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from engine.cli import (
    analyst,  # validate, describe, diagram, schema
    audit,  # audit verify
    cases,  # cases
    clients,  # clients add / list / rotate / revoke
    database,  # db upgrade / db current
    outbox,  # outbox
    serve,  # serve, openapi
    simulate,  # simulate
    timers,  # timers
    worker,  # worker
)

# Modules that contribute subcommands, in the order `casework --help` lists them.
COMMAND_MODULES = (
    analyst,
    simulate,
    database,
    audit,
    cases,
    timers,
    outbox,
    worker,
    serve,
    clients,
)


def casework_version() -> str:
    """The installed distribution's version (the source tree's when not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("casework")
    except PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
        return "0+unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="casework",
        description="Casework: a workflow engine for healthcare case management.",
    )
    parser.add_argument("--version", action="version", version=f"casework {casework_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
