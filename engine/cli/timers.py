"""``casework timers list``: timers soonest first, the late ones marked OVERDUE.

Case clocks are timer rows too: their name says ``(clock)`` and their state
is the one the clock started in; a clock that fired (a deadline passed, a
watchdog lapsed) and was not yet stopped or restarted is listed as OVERDUE
with ``--status overdue`` (or ``any``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from engine.cli import _common as out
from engine.store.records import TimerStatus

if TYPE_CHECKING:
    from engine.runtime.engine import Engine
    from engine.runtime.views import TimerView

HEADERS = ["ID", "CASE", "STATE", "TIMER", "EVENT", "DUE", "", "STATUS"]
STATUSES = ["pending", "paused", "fired", "cancelled", "overdue", "any"]


def cmd_timers_list(args: argparse.Namespace) -> int:
    within = out.parse_span(args.due_within) if args.due_within else None

    def body(engine: Engine) -> int:
        now = engine.clock.now()
        due_before = now + within if within is not None else None
        status = None if args.status == "any" else args.status
        timers = out.collect(
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

        def row(t: TimerView) -> Sequence[Any]:
            late = t.status == TimerStatus.OVERDUE or (
                t.status == TimerStatus.PENDING and t.due_at is not None and t.due_at <= now
            )
            return (
                t.id,
                t.case_id,
                t.state,
                f"{t.name} (clock)" if t.scope == "clock" else t.name,
                t.event,
                t.due_at,
                out.relative(t.due_at, now),
                "OVERDUE" if late else t.status,
            )

        return out.listing(args, timers, HEADERS, row)

    return out.run(args, body)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    timers = subparsers.add_parser("timers", help="inspect timers")
    timers_sub = timers.add_subparsers(dest="timers_command", metavar="COMMAND", required=True)
    p = timers_sub.add_parser("list", help="timers, soonest first")
    out.add_operator_options(p)
    p.add_argument("--due-within", metavar="SPAN", help="e.g. 7d, 12h, P7D")
    p.add_argument("--case", metavar="ID")
    p.add_argument("--status", default="pending", choices=STATUSES)
    p.add_argument("--limit", type=int, default=200)
    p.set_defaults(func=out.guarded(cmd_timers_list))
