"""``casework outbox list|retry``: host actions waiting, delivered or dead-lettered."""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from engine.cli import _common as out

if TYPE_CHECKING:
    from engine.runtime.engine import Engine
    from engine.runtime.views import OutboxItem, Page

HEADERS = ["ID", "CASE", "ACTION", "STATUS", "ATTEMPTS", "NEXT ATTEMPT", "LAST ERROR"]


def _items(engine: Engine, statuses: list[str | None], limit: int) -> Iterator[OutboxItem]:
    for status in statuses:

        def fetch(cursor: str | None, n: int, s: str | None = status) -> Page[OutboxItem]:
            return engine.outbox(status=s, limit=n, cursor=cursor)

        yield from out.collect(fetch, limit, "outbox items")


def _row(i: OutboxItem) -> Sequence[Any]:
    return (i.id, i.case_id, i.action, i.status, i.attempts, i.next_attempt_at, i.last_error)


def cmd_outbox_list(args: argparse.Namespace) -> int:
    statuses: list[str | None]
    if args.failed:
        statuses = ["dead"]
    elif args.all:
        statuses = [None]
    else:
        statuses = ["pending", "dead"]

    def body(engine: Engine) -> int:
        return out.listing(args, list(_items(engine, statuses, args.limit)), HEADERS, _row)

    return out.run(args, body, stored_definitions=True)


def cmd_outbox_retry(args: argparse.Namespace) -> int:
    def body(engine: Engine) -> int:
        item = engine.retry_outbox(args.item_id, actor=args.actor)
        if args.json:
            out.print_json(item.to_dict())
        else:
            print(f"outbox item {item.id} ({item.action}, case {item.case_id}) is pending again")
        return out.EXIT_OK

    return out.run(args, body)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    outbox = subparsers.add_parser("outbox", help="inspect and retry host actions")
    outbox_sub = outbox.add_subparsers(dest="outbox_command", metavar="COMMAND", required=True)
    p = outbox_sub.add_parser("list", help="pending and dead-lettered actions")
    out.add_operator_options(p)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--failed", action="store_true", help="only dead-lettered items")
    g.add_argument("--all", action="store_true", help="including delivered items")
    p.add_argument("--limit", type=int, default=200)
    p.set_defaults(func=out.guarded(cmd_outbox_list))

    p = outbox_sub.add_parser("retry", help="make a dead or pending item due now")
    out.add_operator_options(p, actor=True)
    p.add_argument("item_id", metavar="ID", type=int)
    p.set_defaults(func=out.guarded(cmd_outbox_retry))
