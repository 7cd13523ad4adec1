"""Operator commands over the same database the service uses.

``casework cases list|show|history|send``, ``casework timers list``,
``casework outbox list|retry``. Tables for people, ``--json`` for scripts.
Writes are attributed (``--actor``, default ``cli:$USER``); reads of case
records are audited like the API's. Exit codes: 0 ok, 1 the operation
failed, 2 usage.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from engine.cli import _output as out
from engine.errors import EngineError

if TYPE_CHECKING:
    from engine.runtime.engine import Engine
    from engine.runtime.views import CaseView, Page

T = TypeVar("T")

DEFAULT_DATABASE_URL = "sqlite:///casework.db"
PAGE_SIZE = 200


class UsageError(Exception):
    """A command-line value that cannot be used (exit code 2)."""


# -- shared options ------------------------------------------------------------------


def database_url_default() -> str:
    return os.environ.get("CASEWORK_DATABASE_URL", DEFAULT_DATABASE_URL)


def add_database_options(parser: argparse.ArgumentParser) -> None:
    """``--database-url`` and ``--workflows`` (shared with ``casework serve``)."""
    parser.add_argument(
        "--database-url",
        default=database_url_default(),
        help="SQLAlchemy URL (env CASEWORK_DATABASE_URL; default %(default)s)",
    )
    parser.add_argument(
        "--workflows",
        action="append",
        metavar="DIR",
        default=None,
        help="workflow files or folders (repeatable; default: the bundled workflows)",
    )


def open_engine(args: argparse.Namespace, *, must_exist: bool = True) -> Engine:
    """The engine for ``args``; an SQLite file must already exist unless told otherwise."""
    import sqlalchemy as sa

    from engine.runtime.engine import Engine

    url = str(args.database_url)
    parsed = sa.engine.make_url(url)
    db_file = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if must_exist and db_file and db_file != ":memory:" and not Path(db_file).exists():
        raise EngineError(
            f"no database at {db_file}; start `casework serve` first or pass --database-url"
        )
    workflows = [Path(p) for p in args.workflows] if args.workflows else None
    return Engine.open(url, workflows=workflows)


def default_actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}"


_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")


def parse_span(text: str) -> timedelta:
    """``7d``, ``12h``, ``30m``, ``2w``, ``90s`` or an ISO 8601 duration like ``P7D``."""
    value = text.strip()
    m = _DURATION.match(value.lower())
    if m:
        n, unit = int(m.group(1)), m.group(2)
        return timedelta(
            **{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[unit]: n}
        )
    try:
        from engine.definitions.durations import parse_duration

        d = parse_duration(value.upper())
    except (ValueError, ImportError):
        raise UsageError(f"not a duration: {text!r} (try 7d, 12h, P7D)") from None
    if d.years or d.months:
        return timedelta(
            days=d.years * 365 + d.months * 30 + d.weeks * 7 + d.days,
            hours=d.hours,
            minutes=d.minutes,
            seconds=d.seconds,
        )
    return timedelta(
        weeks=d.weeks, days=d.days, hours=d.hours, minutes=d.minutes, seconds=d.seconds
    )


def parse_instant(text: str) -> datetime:
    """An ISO date or date-time; naive values are UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"not an ISO date or date-time: {text!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def collect(fetch: Callable[[str | None, int], Page[T]], limit: int, what: str) -> list[T]:
    """Follow cursors until ``limit`` items; progress on stderr for long listings."""
    items: list[T] = []
    cursor: str | None = None
    pages = 0
    while len(items) < limit:
        page = fetch(cursor, min(PAGE_SIZE, limit - len(items)))
        items.extend(page.items)
        pages += 1
        if pages > 1:
            out.progress(f"... {len(items)} {what} so far")
        cursor = page.next_cursor
        if cursor is None:
            break
    return items


def run(args: argparse.Namespace, body: Callable[[Engine], int]) -> int:
    """Open the engine, run ``body``, turn engine errors into exit code 1."""
    try:
        engine = open_engine(args)
    except EngineError as exc:
        return _fail(args, exc)
    except UsageError as exc:
        out.error(str(exc))
        return 2
    try:
        return body(engine)
    except EngineError as exc:
        return _fail(args, exc)
    except UsageError as exc:
        out.error(str(exc))
        return 2
    finally:
        engine.close()


def guarded(cmd: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn a UsageError raised while reading arguments into exit code 2."""

    def wrapper(args: argparse.Namespace) -> int:
        try:
            return cmd(args)
        except UsageError as exc:
            out.error(str(exc))
            return 2

    wrapper.__name__ = cmd.__name__
    wrapper.__doc__ = cmd.__doc__
    return wrapper


def _fail(args: argparse.Namespace, exc: EngineError) -> int:
    out.error(exc.message)
    if getattr(args, "json", False):
        out.print_json(exc.to_dict())
    return 1


# -- cases ---------------------------------------------------------------------------


def _next_due(view: CaseView) -> datetime | None:
    dues = [t.due_at for t in view.pending_timers if t.due_at is not None]
    return min(dues) if dues else None


def _late(view: CaseView, now: datetime) -> bool:
    return any(t.due_at is not None and t.due_at <= now for t in view.pending_timers)


def cmd_cases_list(args: argparse.Namespace) -> int:
    opened_after = parse_instant(args.opened_after) if args.opened_after else None
    opened_before = parse_instant(args.opened_before) if args.opened_before else None

    def body(engine: Engine) -> int:
        def finder(overdue: bool | None) -> Callable[[str | None, int], Page[CaseView]]:
            def fetch(cursor: str | None, limit: int) -> Page[CaseView]:
                return engine.find(
                    workflow=args.workflow,
                    state=args.state,
                    phase=args.phase,
                    overdue=overdue,
                    opened_after=opened_after,
                    opened_before=opened_before,
                    closed=args.closed,
                    limit=limit,
                    cursor=cursor,
                )

            return fetch

        cases = collect(finder(True if args.overdue else None), args.limit, "cases")
        if args.overdue:
            overdue_ids = {v.id for v in cases}
        else:
            # Same filters and order: the first N overdue cases include every overdue
            # case among the first N cases.
            overdue_ids = {v.id for v in collect(finder(True), args.limit, "overdue cases")}
        now = engine.clock.now()
        if args.json:
            rows = []
            for v in cases:
                d = v.to_dict()
                d.pop("record", None)  # listings never carry records
                d["overdue"] = v.id in overdue_ids
                rows.append(d)
            out.print_json(rows)
            return 0
        out.table(
            [
                (
                    v.id,
                    f"{v.workflow} v{v.workflow_version}",
                    v.state,
                    v.phase,
                    v.opened_at,
                    out.relative(_next_due(v), now),
                    "OVERDUE" if v.id in overdue_ids or _late(v, now) else "",
                    "closed" if v.closed else "open",
                )
                for v in cases
            ],
            ["ID", "WORKFLOW", "STATE", "PHASE", "OPENED", "NEXT DEADLINE", "OVERDUE", "STATUS"],
        )
        return 0

    return run(args, body)


def _entered_state(history: list[Any], state: str) -> Any | None:
    """The history entry that last moved the case into ``state``."""
    for entry in reversed(history):
        if entry.to_state == state and entry.from_state != state:
            return entry
    return history[0] if history else None


def diagnose(view: CaseView, history: list[Any], options: list[Any], now: datetime) -> list[str]:
    """Plain-language reasons the case is where it is (ids and names only)."""
    lines: list[str] = []
    if view.closed:
        lines.append(f"closed at {out.cell(view.closed_at)} in final state {view.state!r}")
        return lines
    entered = _entered_state(history, view.state)
    if entered is not None:
        lines.append(
            f"in state {view.state!r} (phase {view.phase}) since {out.cell(entered.recorded_at)}"
            f" ({out.human_delta(now - entered.recorded_at)})"
        )
        fired = [
            e
            for e in history
            if e.seq > entered.seq and e.outcome == "timer" and e.to_state == view.state
        ]
        for e in fired:
            lines.append(
                f"deadline passed: timer {e.timer or e.event!r} fired "
                f"{out.relative(e.recorded_at, now)}"
                f" (event {e.event!r}) and the case is still in {view.state!r}"
            )
    for t in view.pending_timers:
        if t.due_at is not None and t.due_at <= now:
            lines.append(
                f"OVERDUE: timer {t.name!r} was due {out.relative(t.due_at, now)} and has not "
                "fired yet (is a worker or `casework serve` running?)"
            )
    if not view.pending_timers:
        lines.append("no timer pending: nothing will move this case unless someone sends an event")
    if history:
        last = history[-1]
        lines.append(
            f"last event: {last.event!r} by {last.actor} {out.relative(last.recorded_at, now)}"
        )
    movable = [o for o in options if o.allowed]
    if movable:
        lines.append(
            "waiting for: "
            + "; ".join(f"{o.event} (by {', '.join(o.roles) or 'the engine'})" for o in movable)
        )
    else:
        lines.append("no event can be sent by any role right now (see the reasons below)")
    return lines


def cmd_cases_show(args: argparse.Namespace) -> int:
    def body(engine: Engine) -> int:
        view = engine.get(args.case_id)
        defn = engine.definition(view.workflow, view.workflow_version)
        options = engine.allowed_events(view.id, list(defn.roles))
        history = engine.history(view.id)
        engine.record_access(view.id, actor=args.actor, what="cli:cases show")
        now = engine.clock.now()
        why = diagnose(view, history, options, now)
        if args.json:
            d = view.to_dict()
            d["allowed_events"] = [o.to_dict() for o in options]
            d["diagnosis"] = why
            d["last_event"] = history[-1].to_dict() if history else None
            out.print_json(d)
            return 0
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
        for line in why:
            print(f"- {line}")
        out.heading("Pending timers")
        out.table(
            [
                (
                    t.name,
                    t.event,
                    t.due_at,
                    out.relative(t.due_at, now),
                    "OVERDUE" if t.due_at is not None and t.due_at <= now else t.status,
                )
                for t in view.pending_timers
            ],
            ["TIMER", "EVENT", "DUE", "", "STATUS"],
        )
        out.heading("Events (every role)")
        out.table(
            [
                (o.event, "yes" if o.allowed else "no", list(o.roles), o.reason, o.detail)
                for o in options
            ],
            ["EVENT", "ALLOWED", "ROLES", "REASON", "DETAIL"],
        )
        out.heading("Record")
        print(json.dumps(dict(_thaw(view.record)), indent=2, sort_keys=True, default=str))
        return 0

    return run(args, body)


def _thaw(value: Any) -> Any:
    from engine.runtime.views import thaw

    return thaw(value)


def cmd_cases_history(args: argparse.Namespace) -> int:
    def body(engine: Engine) -> int:
        entries = engine.history(args.case_id)
        engine.record_access(args.case_id, actor=args.actor, what="cli:cases history")
        if args.json:
            out.print_json([e.to_dict() for e in entries])
            return 0
        out.table(
            [
                (
                    e.seq,
                    e.recorded_at,
                    e.event,
                    e.from_state,
                    e.to_state,
                    e.actor,
                    e.outcome,
                    sorted(e.payload),
                )
                for e in entries
            ],
            ["SEQ", "AT", "EVENT", "FROM", "TO", "ACTOR", "OUTCOME", "PAYLOAD FIELDS"],
        )
        return 0

    return run(args, body)


def cmd_cases_send(args: argparse.Namespace) -> int:
    try:
        payload = json.loads(args.payload) if args.payload else {}
    except json.JSONDecodeError as exc:
        out.error(f"--payload is not valid JSON (line {exc.lineno}, column {exc.colno})")
        return 2
    if not isinstance(payload, dict):
        out.error("--payload must be a JSON object")
        return 2

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
        return 0

    return run(args, body)


# -- timers and outbox ---------------------------------------------------------------


def cmd_timers_list(args: argparse.Namespace) -> int:
    within = parse_span(args.due_within) if args.due_within else None

    def body(engine: Engine) -> int:
        now = engine.clock.now()
        due_before = now + within if within is not None else None
        status = None if args.status == "any" else args.status
        timers = collect(
            lambda cursor, limit: engine.timers(
                case_id=args.case,
                status=status,
                due_before=due_before,
                limit=limit,
                cursor=cursor,
            ),
            args.limit,
            "timers",
        )
        if args.json:
            out.print_json([t.to_dict() for t in timers])
            return 0
        out.table(
            [
                (
                    t.id,
                    t.case_id,
                    t.state,
                    t.name,
                    t.event,
                    t.due_at,
                    out.relative(t.due_at, now),
                    "OVERDUE"
                    if t.status == "pending" and t.due_at and t.due_at <= now
                    else t.status,
                )
                for t in timers
            ],
            ["ID", "CASE", "STATE", "TIMER", "EVENT", "DUE", "", "STATUS"],
        )
        return 0

    return run(args, body)


def _outbox_items(engine: Engine, statuses: list[str | None], limit: int) -> Iterator[Any]:
    for status in statuses:

        def fetch(cursor: str | None, n: int, s: str | None = status) -> Page[Any]:
            return engine.outbox(status=s, limit=n, cursor=cursor)

        yield from collect(fetch, limit, "outbox items")


def cmd_outbox_list(args: argparse.Namespace) -> int:
    statuses: list[str | None]
    if args.failed:
        statuses = ["dead"]
    elif args.all:
        statuses = [None]
    else:
        statuses = ["pending", "dead"]

    def body(engine: Engine) -> int:
        items = list(_outbox_items(engine, statuses, args.limit))
        if args.json:
            out.print_json([i.to_dict() for i in items])
            return 0
        out.table(
            [
                (i.id, i.case_id, i.action, i.status, i.attempts, i.next_attempt_at, i.last_error)
                for i in items
            ],
            ["ID", "CASE", "ACTION", "STATUS", "ATTEMPTS", "NEXT ATTEMPT", "LAST ERROR"],
        )
        return 0

    return run(args, body)


def cmd_outbox_retry(args: argparse.Namespace) -> int:
    def body(engine: Engine) -> int:
        item = engine.retry_outbox(args.item_id, actor=args.actor)
        if args.json:
            out.print_json(item.to_dict())
        else:
            print(f"outbox item {item.id} ({item.action}, case {item.case_id}) is pending again")
        return 0

    return run(args, body)


# -- parser --------------------------------------------------------------------------


def _common(p: argparse.ArgumentParser, *, actor: bool = False) -> None:
    add_database_options(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    if actor:
        p.add_argument(
            "--actor", default=default_actor(), help="who does this (default %(default)s)"
        )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cases = subparsers.add_parser("cases", help="list, inspect and drive cases")
    cases_sub = cases.add_subparsers(dest="cases_command", metavar="COMMAND", required=True)

    p = cases_sub.add_parser("list", help="cases matching filters, oldest first")
    _common(p)
    p.add_argument("--workflow")
    p.add_argument("--state")
    p.add_argument("--phase")
    p.add_argument("--overdue", action="store_true", help="only cases past a deadline")
    p.add_argument("--opened-after", metavar="DATE")
    p.add_argument("--opened-before", metavar="DATE")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--closed", dest="closed", action="store_const", const=True, default=None)
    g.add_argument("--open", dest="closed", action="store_const", const=False)
    p.add_argument("--limit", type=int, default=100)
    p.set_defaults(func=guarded(cmd_cases_list))

    p = cases_sub.add_parser("show", help="one case: state, timers, events, why it is stuck")
    _common(p, actor=True)
    p.add_argument("case_id", metavar="ID")
    p.set_defaults(func=guarded(cmd_cases_show))

    p = cases_sub.add_parser("history", help="the history of one case")
    _common(p, actor=True)
    p.add_argument("case_id", metavar="ID")
    p.set_defaults(func=guarded(cmd_cases_history))

    p = cases_sub.add_parser("send", help="send an event to a case")
    _common(p, actor=True)
    p.add_argument("case_id", metavar="ID")
    p.add_argument("event", metavar="EVENT")
    p.add_argument("--payload", metavar="JSON", help="event payload, a JSON object")
    p.add_argument("--role", action="append", metavar="ROLE", help="role to act in (repeatable)")
    p.add_argument("--idempotency-key")
    p.add_argument("--expected-version", type=int)
    p.set_defaults(func=guarded(cmd_cases_send))

    timers = subparsers.add_parser("timers", help="inspect timers")
    timers_sub = timers.add_subparsers(dest="timers_command", metavar="COMMAND", required=True)
    p = timers_sub.add_parser("list", help="timers, soonest first")
    _common(p)
    p.add_argument("--due-within", metavar="SPAN", help="e.g. 7d, 12h, P7D")
    p.add_argument("--case", metavar="ID")
    p.add_argument(
        "--status", default="pending", choices=["pending", "paused", "fired", "cancelled", "any"]
    )
    p.add_argument("--limit", type=int, default=200)
    p.set_defaults(func=guarded(cmd_timers_list))

    outbox = subparsers.add_parser("outbox", help="inspect and retry host actions")
    outbox_sub = outbox.add_subparsers(dest="outbox_command", metavar="COMMAND", required=True)
    p = outbox_sub.add_parser("list", help="pending and dead-lettered actions")
    _common(p)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--failed", action="store_true", help="only dead-lettered items")
    g.add_argument("--all", action="store_true", help="including delivered items")
    p.add_argument("--limit", type=int, default=200)
    p.set_defaults(func=guarded(cmd_outbox_list))

    p = outbox_sub.add_parser("retry", help="make a dead or pending item due now")
    _common(p, actor=True)
    p.add_argument("item_id", metavar="ID", type=int)
    p.set_defaults(func=guarded(cmd_outbox_retry))
