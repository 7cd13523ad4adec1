"""``casework audit verify``: walk the hash chains of the history.

Output is one JSON line on stdout (the report, or the error) and carries no
case data. Exit 0 when every chain verifies, 1 when one does not, the case is
unknown or the schema is behind. The check goes through the engine facade and
registers no workflow: it only reads.
"""

from __future__ import annotations

import argparse

from engine.cli import _common as out
from engine.errors import CaseNotFound, SchemaOutOfDate


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from engine.runtime.engine import Engine

    try:
        # No workflows: verifying history needs no definition, and registers none.
        with Engine.open(str(args.database_url), workflows=[], upgrade=False) as engine:
            report = engine.verify_audit(args.case)
    except (CaseNotFound, SchemaOutOfDate) as exc:
        out.print_json_line(exc.to_dict())
        return out.EXIT_FAILED
    out.print_json_line(report.to_dict())
    return out.EXIT_OK if report.ok else out.EXIT_FAILED


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = subparsers.add_parser("audit", help="tamper-evident history")
    audit_sub = audit.add_subparsers(dest="audit_command", metavar="AUDIT_COMMAND", required=True)
    verify = audit_sub.add_parser("verify", help="check every case's history hash chain")
    out.add_database_url(verify)
    verify.add_argument("--case", default=None, help="check only this case id")
    verify.set_defaults(func=cmd_audit_verify)
