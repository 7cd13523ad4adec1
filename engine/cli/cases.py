"""``casework cases list|show|history|send``: the operator's view of cases
(``transfer``, ``reopen`` and ``links`` are in :mod:`engine.cli.continuity`).

Tables for people, ``--json`` for scripts. ``show`` and ``history`` are
audited reads of a case record (like the API's); ``send`` is a write
attributed to ``--actor`` (default ``cli:$USER``). ``show`` prints the
engine's explanation of why the case is where it is (:meth:`Engine.explain`).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from engine.cli import _common as out
from engine.runtime.case_search import CASE_SORTS
from engine.runtime.views import TimerView, thaw

if TYPE_CHECKING:
    from engine.runtime.engine import Engine
    from engine.runtime.explain import CaseExplanation
    from engine.runtime.views import CaseView, HistoryEntry, Page

LIST_HEADERS = ["ID", "WORKFLOW", "STATE", "PHASE", "OPENED", "NEXT DEADLINE", "OVERDUE", "STATUS"]
HISTORY_HEADERS = ["SEQ", "AT", "EVENT", "FROM", "TO", "ACTOR", "OUTCOME", "PAYLOAD FIELDS"]


# -- list ----------------------------------------------------------------------------


def _next_due(view: CaseView) -> datetime | None:
    dues = [t.due_at for t in view.pending_timers if t.due_at is not None and t.status == "pending"]
    return min(dues) if dues else None


def _late(view: CaseView, now: datetime) -> bool:
    """Past a deadline: one fired and the case stayed (a state deadline, or a case clock
    left overdue), or a pending timer is due."""
    if view.overdue_since is not None:
        return True
    return any(
        t.status == "overdue" or (t.due_at is not None and t.due_at <= now)
        for t in view.pending_timers
    )


def _timer_name(t: TimerView) -> str:
    return f"{t.name} (clock)" if t.scope == "clock" else t.name


def _key_filters(given: Sequence[str]) -> dict[str, str]:
    """``--key NAME=VALUE`` options as business key filters. Raises UsageError."""
    keys: dict[str, str] = {}
    for item in given:
        name, sep, value = item.partition("=")
        if not sep or not name or name in keys:
            raise out.UsageError(f"--key takes NAME=VALUE, each NAME once (got {name[:64]!r})")
        keys[name] = value
    return keys


def cmd_cases_list(args: argparse.Namespace) -> int:
    opened_after = out.parse_instant(args.opened_after) if args.opened_after else None
    opened_before = out.parse_instant(args.opened_before) if args.opened_before else None
    limit = out.page_limit(args)
    keys = _key_filters(args.key or [])

    def body(engine: Engine) -> int:
        # The overdue filter (a query of its own) runs only with --overdue; the OVERDUE
        # column comes from each listed case's own deadlines.
        def fetch(cursor: str | None, n: int, first: bool) -> Page[CaseView]:
            try:
                return engine.find(
                    workflow=args.workflow,
                    state=args.state,
                    phase=args.phase,
                    overdue=True if args.overdue else None,
                    opened_after=opened_after,
                    opened_before=opened_before,
                    closed=args.closed,
                    limit=n,
                    cursor=cursor,
                    sort=args.sort,
                    with_total=first,
                    keys=keys,
                    item_type=args.item_type,
                    item_state=args.item_state,
                    item_overdue=True if args.item_overdue else None,
                )
            except ValueError as exc:
                raise out.UsageError(f"--cursor: {exc}") from None

        cases, next_cursor, total = out.collect_page(fetch, limit, "cases", args.cursor)
        now = engine.clock.now()
        # overdue: a deadline passed in the state, or a pending timer past due; read
        # off the listed cases, never a second (overdue) query
        overdue_ids = {
            v.id for v in cases if args.overdue or v.overdue_since is not None or _late(v, now)
        }

        def summary(v: CaseView) -> dict[str, Any]:
            d = v.to_dict()
            d.pop("record", None)  # listings never carry records
            d["overdue"] = _late(v, now)
            return d

        def row(v: CaseView) -> Sequence[Any]:
            return (
                v.id,
                f"{v.workflow} v{v.workflow_version}",
                v.state,
                v.phase,
                v.opened_at,
                out.relative(_next_due(v), now),
                "OVERDUE" if v.id in overdue_ids else "",
                "closed" if v.closed else "open",
            )

        if args.json:
            out.paged_json([summary(v) for v in cases], next_cursor, total, sort=args.sort)
            return out.EXIT_OK
        out.table([row(v) for v in cases], LIST_HEADERS, wide=args.wide)
        out.more_rows_note(len(cases), total, next_cursor, "cases")
        return out.EXIT_OK

    return out.run(args, body, stored_definitions=True)


# -- show ----------------------------------------------------------------------------


def diagnosis(why: CaseExplanation) -> list[str]:
    """The explanation in plain language, one line a reason (ids and names only)."""
    now = why.as_of
    if why.closed:
        return [f"closed at {out.cell(why.closed_at)} in final state {why.state!r}"]
    lines: list[str] = []
    if why.in_state_since is not None:
        lines.append(
            f"in state {why.state!r} (phase {why.phase}) since {out.cell(why.in_state_since)}"
            f" ({out.human_delta(now - why.in_state_since)})"
        )
    for d in why.fired_deadlines:
        lines.append(
            f"deadline passed: timer {d.timer!r} fired {out.relative(d.fired_at, now)}"
            f" (event {d.event!r}) and the case is still in {why.state!r}"
        )
    for c in why.overdue_clocks:
        lines.append(
            f"OVERDUE: clock {c.name!r} fired {out.relative(c.fired_at, now)} (event "
            f"{c.event!r}); the case stays overdue until the clock is stopped or restarted"
        )
    for t in why.overdue_timers:
        lines.append(
            f"OVERDUE: timer {t.timer!r} was due {out.relative(t.due_at, now)} and has not "
            "fired yet (is a worker or `casework serve` running?)"
        )
    if not why.pending_timers:
        lines.append("no timer pending: nothing will move this case unless someone sends an event")
    last = why.last_event
    if last is not None:
        lines.append(
            f"last event: {last.event!r} by {last.actor} {out.relative(last.recorded_at, now)}"
        )
    if why.waiting_for:
        lines.append(
            "waiting for: "
            + "; ".join(
                f"{o.event} (by {', '.join(o.roles) or 'the engine'})" for o in why.waiting_for
            )
        )
    else:
        lines.append("no event can be sent by any role right now (see the reasons below)")
    return lines


def _print_show(view: CaseView, why: CaseExplanation) -> None:
    now = why.as_of
    out.fields(
        [
            ("case", view.id),
            ("workflow", f"{view.workflow} v{view.workflow_version}"),
            ("state", view.state),
            ("phase", view.phase),
            ("version", view.version),
            ("opened", view.opened_at),
            ("updated", view.updated_at),
            ("closed", view.closed_at),
        ]
    )
    out.heading("Why is it here?")
    for line in diagnosis(why):
        print(f"- {line}")
    out.heading("Pending timers")
    out.table(
        [
            (
                _timer_name(t),
                t.event,
                t.due_at,
                out.relative(t.due_at, now),
                "OVERDUE"
                if t.status == "overdue" or (t.due_at is not None and t.due_at <= now)
                else t.status,
            )
            for t in why.pending_timers
        ],
        ["TIMER", "EVENT", "DUE", "", "STATUS"],
    )
    if view.items:
        out.heading("Work items")
        out.table(
            [
                (
                    i.id,
                    i.type,
                    i.state,
                    "closed" if i.closed else "open",
                    i.updated_at,
                    ", ".join(f"{t.name} {t.due_at}" for t in i.timers) or "-",
                )
                for i in view.items
            ],
            ["ITEM", "TYPE", "STATE", "", "UPDATED", "TIMERS"],
        )
    out.heading("Events (every role)")
    out.table(
        [
            (o.event, "yes" if o.allowed else "no", list(o.roles), o.reason, o.detail)
            for o in why.events
        ],
        ["EVENT", "ALLOWED", "ROLES", "REASON", "DETAIL"],
    )
    out.heading("Record")
    print(json.dumps(dict(thaw(view.record)), indent=2, sort_keys=True, default=str))


def cmd_cases_show(args: argparse.Namespace) -> int:
    def body(engine: Engine) -> int:
        view = engine.get(args.case_id)
        why = engine.explain(view.id)
        engine.record_access(view.id, actor=args.actor, what="cli:cases show")
        if args.json:
            history = engine.history(view.id)
            d = view.to_dict()
            d["allowed_events"] = [o.to_dict() for o in why.events]
            d["diagnosis"] = diagnosis(why)
            d["last_event"] = history[-1].to_dict() if history else None
            d["links"] = [x.to_dict() for x in engine.case_links(view.id)]
            out.print_json(d)
        else:
            _print_show(view, why)
            links = engine.case_links(view.id)
            if links:
                out.heading("Linked cases")
                for x in links:
                    what = "continued as" if x.direction == "to" else "continues"
                    print(f"{x.kind}: {what} case {x.case_id} ({x.created_at.isoformat()})")
        return out.EXIT_OK

    return out.run(args, body, stored_definitions=True)


# -- history and send ----------------------------------------------------------------


def _history_event(e: HistoryEntry) -> str:
    """The event, and for an item event's row the item and its change."""
    if e.item_id is None:
        return e.event
    change = e.item_to if e.item_from in (None, e.item_to) else f"{e.item_from}->{e.item_to}"
    return f"{e.event} [item {e.item_id}: {change}]"


def _payload_fields(payload: Any) -> list[str]:
    """The payload's field names; a transfer's ``@link`` as the linked case's id."""
    names = sorted(k for k in payload if k != "@link")
    link = payload.get("@link")
    if isinstance(link, Mapping):
        if "to_case" in link:
            names.append(f"@link: to {link.get('to_workflow')} case {link['to_case']}")
        elif "from_case" in link:
            names.append(f"@link: from {link.get('from_workflow')} case {link['from_case']}")
    return names


def _history_row(e: HistoryEntry) -> Sequence[Any]:
    return (
        e.seq,
        e.recorded_at,
        _history_event(e),
        e.from_state,
        e.to_state,
        e.actor,
        e.outcome,
        _payload_fields(e.payload),
    )


def cmd_cases_history(args: argparse.Namespace) -> int:
    def body(engine: Engine) -> int:
        entries = engine.history(args.case_id)
        engine.record_access(args.case_id, actor=args.actor, what="cli:cases history")
        return out.listing(args, entries, HISTORY_HEADERS, _history_row)

    return out.run(args, body, stored_definitions=True)


def cmd_cases_send(args: argparse.Namespace) -> int:
    try:
        payload = json.loads(args.payload) if args.payload else {}
    except json.JSONDecodeError as exc:
        out.error(f"--payload is not valid JSON (line {exc.lineno}, column {exc.colno})")
        return out.EXIT_USAGE
    if not isinstance(payload, dict):
        out.error("--payload must be a JSON object")
        return out.EXIT_USAGE

    def body(engine: Engine) -> int:
        view = engine.send(
            args.case_id,
            args.event,
            payload,
            actor=args.actor,
            roles=args.role or [],
            idempotency_key=args.idempotency_key,
            expected_version=args.expected_version,
        )
        if args.json:
            d = view.to_dict()
            d.pop("record", None)
            out.print_json(d)
        else:
            print(f"case {view.id}: {args.event} -> state {view.state} (version {view.version})")
        return out.EXIT_OK

    return out.run(args, body)


# -- parser --------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cases = subparsers.add_parser("cases", help="list, inspect and drive cases")
    cases_sub = cases.add_subparsers(dest="cases_command", metavar="COMMAND", required=True)

    p = cases_sub.add_parser(
        "list",
        help="cases matching filters, oldest first (--sort due: most late first)",
        description="Cases matching every filter given, a page at a time: the table says "
        "how many match and, when more exist, the --cursor of the next page.",
    )
    out.add_operator_options(p)
    # Lookup by business key (--key) belongs here, next to the filters, when keys land.
    p.add_argument("--workflow")
    p.add_argument("--state")
    p.add_argument("--phase")
    p.add_argument("--overdue", action="store_true", help="only cases past a deadline")
    p.add_argument("--opened-after", metavar="DATE")
    p.add_argument("--opened-before", metavar="DATE")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--closed", dest="closed", action="store_const", const=True, default=None)
    g.add_argument("--open", dest="closed", action="store_const", const=False)
    p.add_argument(
        "--sort",
        choices=CASE_SORTS,
        default="opened",
        help="opened: oldest first (default); due: most late first, by the earliest "
        "passed or pending deadline (cases without one last); late: only how late counts",
    )
    p.add_argument(
        "--key",
        action="append",
        metavar="NAME=VALUE",
        help="a business key value, e.g. --key patient_id=P-0001 (repeatable: all must match)",
    )
    p.add_argument("--item-type", metavar="TYPE", help="cases holding a work item of TYPE")
    p.add_argument("--item-state", metavar="STATE", help="... a work item in STATE")
    p.add_argument(
        "--item-overdue", action="store_true", help="... a work item past a deadline of its own"
    )
    out.add_paging_options(p, default_limit=100)
    p.set_defaults(func=out.guarded(cmd_cases_list))

    p = cases_sub.add_parser("show", help="one case: state, timers, events, why it is stuck")
    out.add_operator_options(p, actor=True)
    p.add_argument("case_id", metavar="ID")
    p.set_defaults(func=out.guarded(cmd_cases_show))

    p = cases_sub.add_parser("history", help="the history of one case")
    out.add_operator_options(p, actor=True)
    p.add_argument("case_id", metavar="ID")
    p.set_defaults(func=out.guarded(cmd_cases_history))

    p = cases_sub.add_parser("send", help="send an event to a case")
    out.add_operator_options(p, actor=True)
    p.add_argument("case_id", metavar="ID")
    p.add_argument("event", metavar="EVENT")
    p.add_argument("--payload", metavar="JSON", help="event payload, a JSON object")
    p.add_argument("--role", action="append", metavar="ROLE", help="role to act in (repeatable)")
    p.add_argument("--idempotency-key")
    p.add_argument("--expected-version", type=int)
    p.set_defaults(func=out.guarded(cmd_cases_send))

    from engine.cli import continuity  # transfer, reopen, links

    continuity.register(cases_sub)
