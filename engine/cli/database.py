"""``casework db upgrade`` and ``casework db current``: the database schema.

Output is one JSON line on stdout; nothing printed contains case data.
``db current`` exits 1 when the schema is behind the newest revision.
"""

from __future__ import annotations

import argparse

from engine.cli import _common as out


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = subparsers.add_parser("db", help="database schema: upgrade, current revision")
    db_sub = db.add_subparsers(dest="db_command", metavar="DB_COMMAND", required=True)
    up = db_sub.add_parser("upgrade", help="upgrade the schema to the newest revision")
    out.add_database_url(up)
    up.add_argument("--revision", default="head", help="target revision (default: head)")
    up.set_defaults(func=cmd_upgrade)
    cur = db_sub.add_parser("current", help="show the schema revision and the newest one")
    out.add_database_url(cur)
    cur.set_defaults(func=cmd_current)


def cmd_upgrade(args: argparse.Namespace) -> int:
    from engine.store.sqlalchemy_store import upgrade_database

    out.print_json_line(upgrade_database(str(args.database_url), args.revision))
    return out.EXIT_OK


def cmd_current(args: argparse.Namespace) -> int:
    from engine.store.sqlalchemy_store import database_revision

    current, head = database_revision(str(args.database_url))
    out.print_json_line({"revision": current, "head": head, "up_to_date": current == head})
    return out.EXIT_OK if current == head else out.EXIT_FAILED
