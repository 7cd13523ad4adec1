"""``casework outbox list|retry|replay``: host actions waiting, delivered or dead-lettered.

``retry`` takes several ids, or a filter (``--failed`` for every dead-lettered
item, narrowed by ``--action`` and ``--case``); each retry is its own audited
operation, and one that cannot be retried (unknown or already delivered) is
reported without stopping the others (exit 1 if any failed).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from engine.cli import _common as out
from engine.errors import EngineError

if TYPE_CHECKING:
    from engine.runtime.engine import Engine
    from engine.runtime.views import OutboxItem, Page

HEADERS = ["ID", "CASE", "ACTION", "STATUS", "ATTEMPTS", "NEXT ATTEMPT", "LAST ERROR"]


def _statuses(args: argparse.Namespace) -> list[str | None]:
    if args.failed:
        return ["dead"]
    if args.delivered:
        return [None]
    return ["pending", "dead"]


def _listing(
    engine: Engine, statuses: list[str | None], limit: int | None, cursor: str | None
) -> tuple[list[OutboxItem], str | None]:
    """Items of each status in turn; the cursor, ``STATUS:CURSOR``, resumes mid-way.

    Returns the items and the cursor of the rest (None when nothing is left).
    """
    names = [s or "any" for s in statuses]
    start, resume = 0, None
    if cursor is not None:
        name, sep, rest = cursor.partition(":")
        if not sep or name not in names:
            raise out.UsageError("--cursor was not printed by this listing")
        start, resume = names.index(name), rest or None
    items: list[OutboxItem] = []
    for i in range(start, len(statuses)):
        status = statuses[i]

        def fetch(c: str | None, n: int, _first: bool, s: str | None = status) -> Page[OutboxItem]:
            return engine.outbox(status=s, limit=n, cursor=c)

        left = None if limit is None else limit - len(items)
        if left == 0:
            peek = fetch(resume if i == start else None, 1, False)
            return items, (f"{names[i]}:" if peek.items else None)
        try:
            got, nxt, _ = out.collect_page(
                fetch, left, "outbox items", resume if i == start else None
            )
        except (ValueError, TypeError, IndexError):
            raise out.UsageError("--cursor was not printed by this listing") from None
        items.extend(got)
        if nxt is not None:
            return items, f"{names[i]}:{nxt}"
    return items, None


def _row(i: OutboxItem) -> Sequence[Any]:
    return (i.id, i.case_id, i.action, i.status, i.attempts, i.next_attempt_at, i.last_error)


def cmd_outbox_list(args: argparse.Namespace) -> int:
    limit = out.page_limit(args)

    def body(engine: Engine) -> int:
        items, nxt = _listing(engine, _statuses(args), limit, args.cursor)
        if args.json:
            out.paged_json([i.to_dict() for i in items], nxt, None)
        else:
            out.table([_row(i) for i in items], HEADERS, wide=args.wide)
            out.more_rows_note(len(items), None, nxt, "outbox items")
        return out.EXIT_OK

    return out.run(args, body, stored_definitions=True)


def _failed_ids(engine: Engine, args: argparse.Namespace) -> list[int]:
    """Dead-lettered items matching ``--action`` and ``--case``, oldest first."""

    def fetch(cursor: str | None, n: int, _first: bool) -> Page[OutboxItem]:
        return engine.outbox(status="dead", limit=n, cursor=cursor)

    items, _, _ = out.collect_page(fetch, None, "dead-lettered items")
    return [
        i.id
        for i in items
        if (args.action is None or i.action == args.action)
        and (args.case is None or i.case_id == args.case)
    ]


def cmd_outbox_retry(args: argparse.Namespace) -> int:
    if bool(args.item_ids) == bool(args.failed):
        raise out.UsageError("give item IDs or --failed (with --action/--case), not both")
    if (args.action or args.case) and not args.failed:
        raise out.UsageError("--action and --case narrow --failed")

    def body(engine: Engine) -> int:
        ids = list(dict.fromkeys(args.item_ids)) if args.item_ids else _failed_ids(engine, args)
        retried: list[OutboxItem] = []
        failed: list[dict[str, Any]] = []
        for item_id in ids:
            try:
                retried.append(engine.retry_outbox(item_id, actor=args.actor))
            except EngineError as exc:
                failed.append({"id": item_id, "error": exc.code, "message": exc.message})
                if not args.json:
                    out.error(exc.message)
        if args.json:
            out.print_json({"retried": [i.to_dict() for i in retried], "failed": failed})
        else:
            for item in retried:
                print(
                    f"outbox item {item.id} ({item.action}, case {item.case_id}) is pending again"
                )
            if not ids:
                print("no outbox item to retry")
            elif len(ids) > 1:
                print(f"{len(retried)} of {len(ids)} items are pending again")
        return out.EXIT_FAILED if failed else out.EXIT_OK

    return out.run(args, body)


def cmd_outbox_replay(args: argparse.Namespace) -> int:
    def body(engine: Engine) -> int:
        item = engine.actions.replay(args.item_id, actor=args.actor)
        if args.json:
            out.print_json({"id": item.id, "case_id": item.case_id, "action": item.action})
        else:
            print(f"outbox item {item.id} ({item.action}, case {item.case_id}) is queued again")
        return out.EXIT_OK

    return out.run(args, body)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    outbox = subparsers.add_parser("outbox", help="inspect and retry host actions")
    outbox_sub = outbox.add_subparsers(dest="outbox_command", metavar="COMMAND", required=True)
    p = outbox_sub.add_parser("list", help="pending and dead-lettered actions")
    out.add_operator_options(p)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--failed", action="store_true", help="only dead-lettered items")
    g.add_argument("--delivered", action="store_true", help="every item, delivered ones too")
    out.add_paging_options(p, default_limit=200)
    p.set_defaults(func=out.guarded(cmd_outbox_list))

    p = outbox_sub.add_parser(
        "retry",
        help="make dead or pending items due now (several ids, or --failed)",
        description="Retry outbox items: the IDs given, or every dead-lettered item "
        "(--failed), narrowed by --action and --case. Each retry is audited.",
    )
    out.add_operator_options(p, actor=True)
    p.add_argument("item_ids", metavar="ID", type=int, nargs="*")
    p.add_argument("--failed", action="store_true", help="every dead-lettered item")
    p.add_argument("--action", metavar="NAME", help="with --failed: only this action")
    p.add_argument("--case", metavar="CASE_ID", help="with --failed: only this case's items")
    p.set_defaults(func=out.guarded(cmd_outbox_retry))

    p = outbox_sub.add_parser(
        "replay", help="queue an item again, even a delivered one (same idempotency key)"
    )
    out.add_operator_options(p, actor=True)
    p.add_argument("item_id", metavar="ID", type=int)
    p.set_defaults(func=out.guarded(cmd_outbox_replay))
