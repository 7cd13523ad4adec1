"""The ``casework`` command: one root parser, subcommands registered by modules.

Each command module owns its subcommands and exposes ``register(subparsers)``;
each subcommand sets ``func`` (taking the parsed arguments, returning an exit
code). Exit codes: 0 success, 1 the thing checked is invalid or the operation
failed, 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

# Modules that contribute subcommands, in the order `casework --help` lists them.
# Imported explicitly (a missing one is an error, never skipped), but only the one
# a command needs: `casework cases list` does not load the definition checkers.
COMMAND_MODULES = (
    "engine.cli.analyst",  # validate, describe, diagram, schema
    "engine.cli.simulate",  # simulate
    "engine.cli.database",  # db upgrade / db current
    "engine.cli.audit",  # audit verify / checkpoint
    "engine.cli.cases",  # cases
    "engine.cli.items",  # items list / add / send
    "engine.cli.timers",  # timers
    "engine.cli.outbox",  # outbox
    "engine.cli.worker",  # worker
    "engine.cli.serve",  # serve, openapi
    "engine.cli.clients",  # clients add / list / rotate / revoke
    "engine.cli.ownership",  # staff, assign, caseloads, worklist, reassign
    "engine.cli.migrate",  # migrate plan / run, import
)


def casework_version() -> str:
    """The installed distribution's version (the source tree's when not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("casework")
    except PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
        return "0+unknown"


# The module of each command: `casework cases list` imports engine.cli.cases only,
# not the definition checkers behind `validate` (a command not named here, or
# help, loads every module).
COMMAND_MODULE = {
    "validate": "engine.cli.analyst",
    "describe": "engine.cli.analyst",
    "diagram": "engine.cli.analyst",
    "schema": "engine.cli.analyst",
    "simulate": "engine.cli.simulate",
    "db": "engine.cli.database",
    "audit": "engine.cli.audit",
    "cases": "engine.cli.cases",
    "items": "engine.cli.items",
    "timers": "engine.cli.timers",
    "outbox": "engine.cli.outbox",
    "worker": "engine.cli.worker",
    "serve": "engine.cli.serve",
    "openapi": "engine.cli.serve",
    "clients": "engine.cli.clients",
    "staff": "engine.cli.ownership",
    "assign": "engine.cli.ownership",
    "caseloads": "engine.cli.ownership",
    "worklist": "engine.cli.ownership",
    "reassign": "engine.cli.ownership",
    "migrate": "engine.cli.migrate",
    "import": "engine.cli.migrate",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The root parser; with ``command``, only the subcommands of its module."""
    parser = argparse.ArgumentParser(
        prog="casework",
        description="Casework: a workflow engine for healthcare case management.",
    )
    parser.add_argument("--version", action="version", version=f"casework {casework_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    only = COMMAND_MODULE.get(command or "")
    for name in (only,) if only else COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv[0] if argv else None)
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
