"""``casework db upgrade``, ``casework db current`` and ``casework audit verify``.

The database URL comes from ``--database-url``, else the environment variable
``CASEWORK_DATABASE_URL``, else ``sqlite:///casework.db``. Output is JSON on
stdout; nothing printed contains case data.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

DEFAULT_URL = "sqlite:///casework.db"


def database_url(args: argparse.Namespace) -> str:
    return str(args.database_url or os.environ.get("CASEWORK_DATABASE_URL") or DEFAULT_URL)


def _add_url(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--database-url",
        default=None,
        help="SQLAlchemy URL (default: $CASEWORK_DATABASE_URL, else sqlite:///casework.db)",
    )


def register(subparsers: Any) -> None:
    db = subparsers.add_parser("db", help="database schema: upgrade, current revision")
    db_sub = db.add_subparsers(dest="db_command", metavar="DB_COMMAND", required=True)
    up = db_sub.add_parser("upgrade", help="upgrade the schema to the newest revision")
    _add_url(up)
    up.add_argument("--revision", default="head", help="target revision (default: head)")
    up.set_defaults(func=cmd_upgrade)
    cur = db_sub.add_parser("current", help="show the schema revision and the newest one")
    _add_url(cur)
    cur.set_defaults(func=cmd_current)

    audit = subparsers.add_parser("audit", help="tamper-evident history")
    audit_sub = audit.add_subparsers(dest="audit_command", metavar="AUDIT_COMMAND", required=True)
    verify = audit_sub.add_parser("verify", help="check every case's history hash chain")
    _add_url(verify)
    verify.add_argument("--case", default=None, help="check only this case id")
    verify.set_defaults(func=cmd_audit_verify)


def _print(doc: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(doc, sort_keys=True) + "\n")


def cmd_upgrade(args: argparse.Namespace) -> int:
    from engine.store import migrate
    from engine.store.database import create_database_engine

    db = create_database_engine(database_url(args))
    try:
        before = migrate.current_revision(db)
        migrate.upgrade(db, args.revision)
        after = migrate.current_revision(db)
    finally:
        db.dispose()
    _print({"from_revision": before, "to_revision": after, "head": migrate.head_revision()})
    return 0


def cmd_current(args: argparse.Namespace) -> int:
    from engine.store import migrate
    from engine.store.database import create_database_engine

    db = create_database_engine(database_url(args))
    try:
        current = migrate.current_revision(db)
    finally:
        db.dispose()
    head = migrate.head_revision()
    _print({"revision": current, "head": head, "up_to_date": current == head})
    return 0 if current == head else 1


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from engine.errors import CaseNotFound, SchemaOutOfDate
    from engine.runtime.engine import ensure_schema
    from engine.runtime.inspection import verify_audit
    from engine.store.queries import Store

    store = Store(database_url(args))
    try:
        ensure_schema(store, upgrade=False)
        report = verify_audit(store, args.case)
    except (CaseNotFound, SchemaOutOfDate) as exc:
        _print(exc.to_dict())
        return 1
    finally:
        store.close()
    _print(report.to_dict())
    return 0 if report.ok else 1
