"""``casework audit verify`` and ``casework audit checkpoint``.

Output is one JSON line on stdout (the report, the checkpoint, or the error)
and carries no case data. ``verify`` exits 0 when every chain and checkpoint
verifies, 1 when one does not, the case is unknown, the key file is refused
or the schema is behind. Both go through the engine facade and register no
workflow. The key (``--key-file`` or ``CASEWORK_AUDIT_KEY_FILE``) seals
checkpoints with HMAC-SHA256; keep it off the database host's backups, and
keep the printed digests elsewhere (see :mod:`engine.runtime.audit_trail`).
"""

from __future__ import annotations

import argparse
import os
import stat
from pathlib import Path

from engine.cli import _common as out
from engine.errors import CaseNotFound, DuplicateKey, SchemaOutOfDate

KEY_FILE_ENV = "CASEWORK_AUDIT_KEY_FILE"
_NOT_PRIVATE = stat.S_IRWXG | stat.S_IRWXO


class KeyFileRefused(Exception):
    """The audit key file is missing, empty, or readable by others."""


def read_key(path: str | None) -> bytes | None:
    """The audit key in ``path`` (or ``$CASEWORK_AUDIT_KEY_FILE``), None when neither is set."""
    path = path or os.environ.get(KEY_FILE_ENV) or None
    if path is None:
        return None
    file = Path(path)
    try:
        mode = stat.S_IMODE(file.stat().st_mode)
        key = file.read_bytes().strip()
    except OSError as exc:
        raise KeyFileRefused(f"audit key file cannot be read ({type(exc).__name__})") from None
    if mode & _NOT_PRIVATE:
        raise KeyFileRefused(f"audit key file is readable by others (mode {mode:o}): chmod 600")
    if len(key) < 16:
        raise KeyFileRefused("audit key file holds fewer than 16 bytes")
    return key


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from engine.runtime.engine import Engine

    try:
        key = read_key(args.key_file)
        # No workflows: verifying history needs no definition, and registers none.
        with Engine.open(str(args.database_url), workflows=[], upgrade=False) as engine:
            report = engine.verify_audit(args.case, key=key)
    except (CaseNotFound, SchemaOutOfDate) as exc:
        out.print_json_line(exc.to_dict())
        return out.EXIT_FAILED
    except KeyFileRefused as exc:
        out.print_json_line({"error": "audit_key_refused", "message": str(exc)})
        return out.EXIT_FAILED
    out.print_json_line(report.to_dict())
    return out.EXIT_OK if report.ok else out.EXIT_FAILED


def cmd_audit_checkpoint(args: argparse.Namespace) -> int:
    from engine.runtime.engine import Engine

    try:
        key = read_key(args.key_file)
        with Engine.open(str(args.database_url), workflows=[], upgrade=False) as engine:
            checkpoint = engine.audit_checkpoint(key=key)
    except (SchemaOutOfDate, DuplicateKey) as exc:
        out.print_json_line(exc.to_dict())
        return out.EXIT_FAILED
    except KeyFileRefused as exc:
        out.print_json_line({"error": "audit_key_refused", "message": str(exc)})
        return out.EXIT_FAILED
    out.print_json_line(checkpoint.to_dict())
    return out.EXIT_OK


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = subparsers.add_parser("audit", help="tamper-evident history and access log")
    audit_sub = audit.add_subparsers(dest="audit_command", metavar="AUDIT_COMMAND", required=True)
    key_help = f"file holding the checkpoint key (mode 0600; default ${KEY_FILE_ENV})"
    verify = audit_sub.add_parser(
        "verify", help="check every hash chain (history, access log) and checkpoint"
    )
    out.add_database_url(verify)
    verify.add_argument("--case", default=None, help="check only this case id")
    verify.add_argument("--key-file", default=None, help=key_help)
    verify.set_defaults(func=cmd_audit_verify)
    checkpoint = audit_sub.add_parser(
        "checkpoint", help="seal every case's head and the access log's head (run on a schedule)"
    )
    out.add_database_url(checkpoint)
    checkpoint.add_argument("--key-file", default=None, help=key_help)
    checkpoint.set_defaults(func=cmd_audit_checkpoint)
