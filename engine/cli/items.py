"""``casework items``: work items across cases (list), and add one or send it an event.

``items list`` pages through :meth:`engine.Engine.find_items` (``--json``:
``{"items", "next_cursor", "total"}``; ``--limit``/``--all``/``--cursor``; ids
never cut). Each listed case is audited as read by ``--actor``. ``items add``
and ``items send`` write as ``cases send`` does (``--role``,
``--idempotency-key``, ``--expected-version``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from engine.cli import _common as out
from engine.runtime.engine import Engine
from engine.runtime.item_search import ItemMatch
from engine.runtime.views import CaseView, Page
from engine.store.records import ItemQuery

LIST_HEADERS = ["CASE", "ITEM", "TYPE", "STATE", "OPENED", "NEXT DUE", "", ""]


def _payload(text: str | None) -> dict[str, Any]:
    try:
        payload = json.loads(text) if text else {}
    except json.JSONDecodeError as exc:
        raise out.UsageError(
            f"--payload is not valid JSON (line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(payload, dict):
        raise out.UsageError("--payload must be a JSON object")
    return payload


def cmd_items_list(args: argparse.Namespace) -> int:
    limit = out.page_limit(args)
    query = ItemQuery(
        workflow=args.workflow,
        item_type=args.type,
        state=args.state,
        open=args.open,
        overdue=True if args.overdue else None,
    )

    def body(engine: Engine) -> int:
        def fetch(cursor: str | None, n: int, first: bool) -> Page[ItemMatch]:
            try:
                return engine.find_items(query, limit=n, cursor=cursor, with_total=first)
            except ValueError as exc:
                raise out.UsageError(f"--cursor: {exc}") from None

        found, next_cursor, total = out.collect_page(fetch, limit, "items", args.cursor)
        if found:
            engine.record_accesses(
                [m.case_id for m in found], actor=args.actor, what="cli:items list"
            )
        now = engine.clock.now()

        def row(m: ItemMatch) -> Sequence[Any]:
            dues = [t.due_at for t in m.item.timers if t.due_at is not None]
            return (
                m.case_id,
                m.item.id,
                m.item.type,
                m.item.state,
                m.item.opened_at,
                out.relative(min(dues), now) if dues else "-",
                "OVERDUE" if m.overdue else "",
                "closed" if m.item.closed else "open",
            )

        if args.json:
            out.paged_json([m.to_dict() for m in found], next_cursor, total)
            return out.EXIT_OK
        out.table([row(m) for m in found], LIST_HEADERS, wide=args.wide)
        out.more_rows_note(len(found), total, next_cursor, "items")
        return out.EXIT_OK

    return out.run(args, body, stored_definitions=True)


def _print_written(args: argparse.Namespace, view: CaseView, item_id: str, what: str) -> None:
    if args.json:
        d = view.to_dict()
        d.pop("record", None)
        out.print_json(d)
        return
    item = next((i for i in view.items if i.id == item_id), None)
    state = item.state if item is not None else "?"
    print(
        f"case {view.id}: {what} -> item {item_id} {state}, "
        f"case state {view.state} (version {view.version})"
    )


def cmd_items_add(args: argparse.Namespace) -> int:
    payload = _payload(args.payload)

    def body(engine: Engine) -> int:
        before = {i.id for i in engine.get(args.case_id).items}
        view = engine.add_item(
            args.case_id,
            args.type,
            payload,
            actor=args.actor,
            roles=args.role or [],
            item_id=args.item_id,
            idempotency_key=args.idempotency_key,
            expected_version=args.expected_version,
        )
        new = args.item_id or next((i.id for i in view.items if i.id not in before), "?")
        _print_written(args, view, new, f"added {args.type}")
        return out.EXIT_OK

    return out.run(args, body)


def cmd_items_send(args: argparse.Namespace) -> int:
    payload = _payload(args.payload)

    def body(engine: Engine) -> int:
        view = engine.send_item(
            args.case_id,
            args.item_id,
            args.event,
            payload,
            actor=args.actor,
            roles=args.role or [],
            idempotency_key=args.idempotency_key,
            expected_version=args.expected_version,
        )
        _print_written(args, view, args.item_id, args.event)
        return out.EXIT_OK

    return out.run(args, body)


def _write_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--payload", metavar="JSON", help="a JSON object")
    p.add_argument("--role", action="append", metavar="ROLE", help="role to act in (repeatable)")
    p.add_argument("--idempotency-key")
    p.add_argument("--expected-version", type=int)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    items = subparsers.add_parser("items", help="work items across cases; add one, send events")
    sub = items.add_subparsers(dest="items_command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "list",
        help="work items matching filters across cases, oldest opened first",
        description="Work items of every case matching every filter given, a page at a "
        "time: the table says how many match and, when more exist, the --cursor of the next "
        "page. Each listed case is audited as read.",
    )
    out.add_operator_options(p, actor=True)
    p.add_argument("--workflow")
    p.add_argument("--type", help="item type")
    p.add_argument("--state", help="item state")
    p.add_argument("--overdue", action="store_true", help="only items past a deadline of theirs")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--open", dest="open", action="store_const", const=True, default=None)
    g.add_argument("--closed", dest="open", action="store_const", const=False)
    out.add_paging_options(p, default_limit=100)
    p.set_defaults(func=out.guarded(cmd_items_list))

    p = sub.add_parser("add", help="add a work item to a case")
    out.add_operator_options(p, actor=True)
    p.add_argument("case_id", metavar="CASE")
    p.add_argument("type", metavar="TYPE", help="item type")
    p.add_argument("--item-id", help="the item's id (default TYPE-N)")
    _write_options(p)
    p.set_defaults(func=out.guarded(cmd_items_add))

    p = sub.add_parser("send", help="send an event to a work item of a case")
    out.add_operator_options(p, actor=True)
    p.add_argument("case_id", metavar="CASE")
    p.add_argument("item_id", metavar="ITEM")
    p.add_argument("event", metavar="EVENT")
    _write_options(p)
    p.set_defaults(func=out.guarded(cmd_items_send))
