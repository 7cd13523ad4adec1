"""The write path shared by ``open_case``, ``send`` and timer firings.

Everything here runs inside one open transaction the caller owns: the case
update (with a version check), its history row (hash-chained), the timers it
arms, pauses, resumes or cancels, and its outbox rows commit together or not
at all.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from engine.definitions.expressions import ExpressionError
from engine.definitions.model import State, Timer, TimerKind, WorkflowDefinition
from engine.errors import ConcurrencyConflict, PayloadInvalid
from engine.runtime.audit import GENESIS, record_hash, row_hash
from engine.runtime.convert import timer_view
from engine.runtime.machine import Applied, CompiledWorkflow
from engine.runtime.views import CaseView, TimerView, freeze
from engine.store.queries import Store
from engine.timing.due import first_due as compute_first_due
from engine.timing.due import resume_due

log = logging.getLogger(__name__)

# Test hook: when set to a path, a transition writes one line there after its
# history insert and then blocks inside the open transaction (for SIGKILL tests).
HOLD_ENV = "CASEWORK_TEST_HOLD_IN_TRANSACTION"
_CASE_FIELD = re.compile(r"case\.[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def _test_hold() -> None:
    path = os.environ.get(HOLD_ENV)
    if not path:
        return
    with open(path, "w") as f:
        f.write("holding\n")
    threading.Event().wait()


def first_due(
    timer: Timer,
    *,
    entered_at: datetime,
    definition: WorkflowDefinition,
    case: Mapping[str, Any],
    case_id: str = "",
) -> datetime | None:
    """When ``timer`` is first due; None (not armed) when its ``at`` expression fails.

    A failing ``at`` expression (the loader checks them statically, so this
    means case data the expression did not expect) must not block the
    transition: the timer is left unarmed and a warning names the case and
    timer (never the data).
    """
    try:
        return compute_first_due(
            timer, entered_at=entered_at, definition=definition, case=case, now=entered_at
        )
    except ExpressionError:
        log.warning(
            "case %s: timer %r not armed: its `at` expression could not be evaluated",
            case_id,
            timer.name,
        )
        return None
    except (OverflowError, ValueError):  # datetime arithmetic past year 9999 (or before 1)
        raise PayloadInvalid(
            what="case record",
            json_path=_at_field_path(timer.at),
            problem=f"timer {timer.name!r}: the deadline falls outside the calendar's range",
            case_id=case_id or None,
        ) from None


def _at_field_path(expression: str | None) -> str:
    """``case.discharge_date`` -> ``$.discharge_date``; ``$`` for anything less simple."""
    if expression and _CASE_FIELD.fullmatch(expression.strip()):
        return "$." + expression.strip().removeprefix("case.")
    return "$"


def timer_rows(
    case_id: str,
    timers: Sequence[Timer],
    *,
    definition: WorkflowDefinition,
    record: Mapping[str, Any],
    entry_seq: int,
    now: datetime,
) -> list[dict[str, Any]]:
    rows = []
    for tm in timers:
        due = first_due(tm, entered_at=now, definition=definition, case=record, case_id=case_id)
        if due is None:
            continue
        rows.append(
            {
                "case_id": case_id,
                "name": tm.name,
                "event": tm.event,
                "state": tm.state,
                "state_entry_seq": entry_seq,
                "due_at": due,
                "status": "pending",
                "recurring": tm.kind == TimerKind.EVERY,
                "pausable": tm.pausable,
                "remaining_seconds": None,
                "created_at": now,
                "fired_at": None,
            }
        )
    return rows


def arm(store: Store, conn: sa.Connection, rows: list[dict[str, Any]]) -> list[TimerView]:
    ids = store.insert_timers(conn, rows)
    return [timer_view({**r, "id": i}) for r, i in zip(rows, ids, strict=True)]


@dataclass(frozen=True, slots=True)
class HistoryFacts:
    """Who did what, for the history row."""

    actor: str
    roles: tuple[str, ...]
    payload: Mapping[str, Any]
    idempotency_key: str | None
    timer: str | None = None
    lateness_seconds: float | None = None


def history_row(
    *,
    case_id: str,
    seq: int,
    event: str,
    from_state: str | None,
    to_state: str,
    outcome: str,
    workflow_version: int,
    facts: HistoryFacts,
    now: datetime,
    prev_hash: str,
    record: Mapping[str, Any],
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "case_id": case_id,
        "seq": seq,
        "event": event,
        "from_state": from_state,
        "to_state": to_state,
        "actor": facts.actor,
        "roles": list(facts.roles),
        "payload": dict(facts.payload),
        "idempotency_key": facts.idempotency_key,
        "workflow_version": workflow_version,
        "recorded_at": now,
        "outcome": outcome,
        "timer": facts.timer,
        "lateness_seconds": (
            None if facts.lateness_seconds is None else round(facts.lateness_seconds, 6)
        ),
        "prev_hash": prev_hash,
        "record_hash": record_hash(record),
    }
    row["hash"] = row_hash(row)
    return row


def outbox_rows(
    case_id: str,
    seq: int,
    actions: Sequence[str],
    *,
    event: str,
    definition: WorkflowDefinition,
    now: datetime,
) -> list[dict[str, Any]]:
    return [
        {
            "case_id": case_id,
            "history_seq": seq,
            "action": a,
            "event": event,
            "workflow_name": definition.name,
            "workflow_version": definition.version,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "last_error": None,
            "created_at": now,
        }
        for a in actions
    ]


def open_case(
    store: Store,
    conn: sa.Connection,
    compiled: CompiledWorkflow,
    *,
    case_id: str,
    record: dict[str, Any],
    facts: HistoryFacts,
    now: datetime,
) -> CaseView:
    d = compiled.definition
    initial: State = d.states[d.initial]
    hist = history_row(
        case_id=case_id,
        seq=1,
        event="@open",
        from_state=None,
        to_state=initial.name,
        outcome="opened",
        workflow_version=d.version,
        facts=facts,
        now=now,
        prev_hash=GENESIS,
        record=record,
    )
    values = {
        "id": case_id,
        "workflow_name": d.name,
        "workflow_version": d.version,
        "state": initial.name,
        "phase": initial.phase.value,
        "record": record,
        "version": 1,
        "previous_state": None,
        "state_entry_seq": 1,
        "last_hash": hist["hash"],
        "overdue_since": None,
        "opened_at": now,
        "updated_at": now,
        "closed_at": now if initial.final else None,
    }
    store.insert_case(conn, values)
    store.insert_history(conn, hist)
    timers = arm(
        store,
        conn,
        timer_rows(case_id, initial.timers, definition=d, record=record, entry_seq=1, now=now),
    )
    store.insert_outbox(
        conn, outbox_rows(case_id, 1, initial.on_enter, event="@open", definition=d, now=now)
    )
    _test_hold()
    return CaseView(**_view_fields(values), pending_timers=tuple(timers))


def _view_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": values["id"],
        "workflow": values["workflow_name"],
        "workflow_version": int(values["workflow_version"]),
        "state": values["state"],
        "phase": values["phase"],
        "version": int(values["version"]),
        "record": freeze(values["record"]),
        "opened_at": values["opened_at"],
        "updated_at": values["updated_at"],
        "closed_at": values["closed_at"],
    }


def commit_applied(
    store: Store,
    conn: sa.Connection,
    compiled: CompiledWorkflow,
    case: Mapping[str, Any],
    applied: Applied,
    *,
    event: str,
    facts: HistoryFacts,
    now: datetime,
    outcome: str | None = None,
    keep_overdue: datetime | None = None,
    want_view: bool = True,
) -> CaseView | None:
    """Persist one accepted event on a locked case row."""
    d = compiled.definition
    case_id: str = case["id"]
    version = int(case["version"])
    seq = version + 1
    src = d.states[applied.from_state]
    dst = d.states[applied.to_state]
    previous_state = case["previous_state"]
    entry_seq = int(case["state_entry_seq"])
    overdue_since = case["overdue_since"] if keep_overdue is None else keep_overdue
    closed_at = case["closed_at"]
    timers_known: list[TimerView] | None = None
    if applied.entered:
        entry_seq = seq
        overdue_since = None
        closed_at = now if dst.final else None
        timers_known = _move_timers(
            store, conn, compiled, case_id, src, dst, applied, applied.record, seq, now
        )
        if dst.hold and not src.hold:
            previous_state = src.name
    if outcome is None:
        outcome = "transitioned" if applied.entered else "internal"
    hist = history_row(
        case_id=case_id,
        seq=seq,
        event=event,
        from_state=applied.from_state,
        to_state=applied.to_state,
        outcome=outcome,
        workflow_version=d.version,
        facts=facts,
        now=now,
        prev_hash=case["last_hash"],
        record=applied.record,
    )
    values = {
        "state": dst.name,
        "phase": dst.phase.value,
        "record": applied.record,
        "version": seq,
        "previous_state": previous_state,
        "state_entry_seq": entry_seq,
        "last_hash": hist["hash"],
        "overdue_since": overdue_since,
        "updated_at": now,
        "closed_at": closed_at,
    }
    if not store.advance_case(conn, case_id, version, values, hist, before=case):
        current = store.get_case(conn, case_id)
        raise ConcurrencyConflict(
            case_id=case_id,
            expected_version=version,
            actual_version=int(current["version"]) if current else -1,
            state=str(current["state"]) if current else "?",
        )
    store.insert_outbox(
        conn, outbox_rows(case_id, seq, applied.actions, event=event, definition=d, now=now)
    )
    _test_hold()
    if not want_view:
        return None
    if timers_known is None:
        timers_known = [timer_view(r) for r in store.pending_timers_of(conn, case_id)]
    full = {**case, **values}
    return CaseView(**_view_fields(full), pending_timers=tuple(timers_known))


def _move_timers(
    store: Store,
    conn: sa.Connection,
    compiled: CompiledWorkflow,
    case_id: str,
    src: State,
    dst: State,
    applied: Applied,
    record: Mapping[str, Any],
    seq: int,
    now: datetime,
) -> list[TimerView] | None:
    """Cancel, pause, resume and arm timers for a state change.

    Returns the case's pending timers when they are known without a query.
    """
    d = compiled.definition
    if dst.hold and not src.hold:
        pausable = [tm.name for tm in src.timers if tm.pausable]
        store.pause_timers(conn, case_id, now, pausable)
        arm(
            store,
            conn,
            timer_rows(case_id, dst.timers, definition=d, record=record, entry_seq=seq, now=now),
        )
        return None
    if applied.transition.returns_to_previous and src.hold:
        store.cancel_timers(conn, case_id, ("pending",))
        resumed: set[str] = set()
        for r in store.paused_timers_of(conn, case_id):
            if r["state"] != dst.name:
                store.update_timer(conn, int(r["id"]), {"status": "cancelled"})
                continue
            store.update_timer(
                conn,
                int(r["id"]),
                {
                    "status": "pending",
                    "due_at": resumed_due(r, dst, d, now, record=record),
                    "remaining_seconds": None,
                    "paused_at": None,
                    "paused_due_at": None,
                    "state_entry_seq": seq,
                },
            )
            resumed.add(r["name"])
        fresh = [tm for tm in dst.timers if tm.name not in resumed]
        arm(
            store,
            conn,
            timer_rows(case_id, fresh, definition=d, record=record, entry_seq=seq, now=now),
        )
        return None
    if src.hold:
        store.cancel_timers(conn, case_id, ("pending", "paused"))
    elif src.timers:
        store.cancel_timers(conn, case_id, ("pending",))
    rows = timer_rows(case_id, dst.timers, definition=d, record=record, entry_seq=seq, now=now)
    return arm(store, conn, rows)


def resumed_due(
    row: Mapping[str, Any],
    state: State,
    definition: WorkflowDefinition,
    now: datetime,
    *,
    record: Mapping[str, Any] | None = None,
) -> datetime:
    """Where a paused timer is due when its case resumes at ``now``.

    With the pause facts (revision 0004) the local-time rule of
    :func:`engine.timing.due.resume_due`: business-day timers keep the
    business days that were left, calendar timers the local wall-clock time
    that was left (a daylight-saving change during the hold shifts nothing).
    A row paused before those columns existed resumes with the seconds that
    were left.
    """
    tdef = next((tm for tm in state.timers if tm.name == row["name"]), None)
    paused_at, due_at = row.get("paused_at"), row.get("paused_due_at")
    if tdef is not None and paused_at is not None and due_at is not None:
        result: datetime = resume_due(
            tdef,
            due_at=due_at,
            paused_at=paused_at,
            resumed_at=now,
            definition=definition,
            case=record,
        )
        return result
    return now + timedelta(seconds=float(row["remaining_seconds"] or 0.0))
