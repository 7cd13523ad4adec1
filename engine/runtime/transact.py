"""The write path shared by ``open_case``, ``send`` and timer firings.

Everything here runs inside one open transaction the caller owns: the case
update (with a version check), its history row (hash-chained), the timers it
arms, pauses, resumes or cancels (:mod:`engine.runtime.timers`), and its
outbox rows commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.definitions.model import State, WorkflowDefinition
from engine.errors import ConcurrencyConflict, EventRejected, PayloadInvalid
from engine.runtime.action_arguments import action_arguments
from engine.runtime.audit import GENESIS, head_hash, record_hash, row_hash
from engine.runtime.business_keys import sync_keys
from engine.runtime.clocks import ClockChange, ClockOverdue, apply_clock_changes
from engine.runtime.convert import case_view, items_map, timer_view
from engine.runtime.machine import Applied, CompiledWorkflow
from engine.runtime.owner_sync import sync_owner
from engine.runtime.timers import arm, move_timers, timer_records
from engine.runtime.views import CaseView, TimerView
from engine.store.interface import StoreTransaction
from engine.store.records import (
    CaseRecord,
    HistoryOutcome,
    HistoryRecord,
    OutboxRecord,
    OutboxStatus,
    TimerRecord,
    TimerScope,
)


@dataclass(frozen=True, slots=True)
class HistoryFacts:
    """Who did what, for the history row."""

    actor: str
    roles: tuple[str, ...]
    payload: Mapping[str, Any]
    idempotency_key: str | None
    timer: str | None = None
    lateness_seconds: float | None = None
    client: str | None = None  # the API client acting on behalf of ``actor`` (an end user)


def history_record(
    *,
    case_id: str,
    seq: int,
    event: str,
    from_state: str | None,
    to_state: str,
    outcome: HistoryOutcome,
    workflow_version: int,
    facts: HistoryFacts,
    now: datetime,
    prev_hash: str,
    record: Mapping[str, Any],
    head: str,
    item: tuple[str, str | None, str] | None = None,
) -> HistoryRecord:
    """The next history row, its hash chained to ``prev_hash``; ``head`` is the
    :func:`~engine.runtime.audit.head_hash` of the case after it; ``item`` the
    (item id, state before, state after) of an item event's row."""
    lateness = None if facts.lateness_seconds is None else round(facts.lateness_seconds, 6)
    fields: dict[str, Any] = {
        "case_id": case_id,
        "seq": seq,
        "event": event,
        "from_state": from_state,
        "to_state": to_state,
        "actor": facts.actor,
        "roles": facts.roles,
        "payload": dict(facts.payload),
        "idempotency_key": facts.idempotency_key,
        "workflow_version": workflow_version,
        "recorded_at": now,
        "outcome": outcome,
        "timer": facts.timer,
        "lateness_seconds": lateness,
        "prev_hash": prev_hash,
        "record_hash": record_hash(record),
        "head_hash": head,
        "client": facts.client,
        "item_id": item[0] if item else None,
        "item_from": item[1] if item else None,
        "item_to": item[2] if item else None,
    }
    return HistoryRecord(hash=row_hash(fields), **fields)


def outbox_records(
    case_id: str,
    seq: int,
    actions: Sequence[str],
    *,
    event: str,
    definition: WorkflowDefinition,
    now: datetime,
    record: Mapping[str, Any],
    payload: Mapping[str, Any],
) -> list[OutboxRecord]:
    def args(action: str) -> dict[str, Any] | None:
        return action_arguments(
            definition, action, case_id=case_id, record=record, payload=payload, now=now
        )

    return [
        OutboxRecord(
            None,
            case_id,
            seq,
            a,
            event,
            definition.name,
            definition.version,
            OutboxStatus.PENDING,
            0,
            now,
            None,
            now,
            args(a),
        )
        for a in actions
    ]


def open_case(
    tx: StoreTransaction,
    compiled: CompiledWorkflow,
    *,
    case_id: str,
    record: dict[str, Any],
    facts: HistoryFacts,
    now: datetime,
    entry: str | None = None,
    event: str = "@open",
    outcome: HistoryOutcome = HistoryOutcome.OPENED,
) -> CaseView:
    """Insert a new case in the workflow's initial state (or ``entry``: a transfer's
    state, engine/runtime/continuity.py), its first history row, timers, clocks, outbox."""
    d = compiled.definition
    initial: State = d.states[entry or d.initial]
    hist = history_record(
        case_id=case_id,
        seq=1,
        event=event,
        from_state=None,
        to_state=initial.name,
        outcome=outcome,
        workflow_version=d.version,
        facts=facts,
        now=now,
        prev_hash=GENESIS,
        record=record,
        head=head_hash(
            workflow_name=d.name,
            workflow_version=d.version,
            state=initial.name,
            phase=initial.phase.value,
            previous_state=None,
            state_entry_seq=1,
            opened_at=now,
            closed_at=now if initial.final else None,
        ),
    )
    case = CaseRecord(
        case_id,
        d.name,
        d.version,
        initial.name,
        initial.phase.value,
        record,
        1,
        None,
        1,
        hist.hash,
        None,
        now,
        now,
        now if initial.final else None,
    )
    tx.insert_case(case, hist)
    sync_keys(tx, d, None, case)
    timers = arm(
        tx,
        timer_records(case_id, initial.timers, definition=d, record=record, entry_seq=1, now=now),
    )
    if d.clocks:
        change = ClockChange(case_id, event, None, initial, True, False, {}, record, 1, now)
        apply_clock_changes(tx, d, change)
        timers = [timer_view(r) for r in tx.live_timers_of(case_id)]
    tx.insert_outbox(
        outbox_records(
            case_id,
            1,
            initial.on_enter,
            event=event,
            definition=d,
            now=now,
            record=record,
            payload={},
        )
    )
    return case_view(case, timers)


def commit_applied(
    tx: StoreTransaction,
    compiled: CompiledWorkflow,
    case: CaseRecord,
    applied: Applied,
    *,
    event: str,
    facts: HistoryFacts,
    now: datetime,
    outcome: HistoryOutcome | None = None,
    keep_overdue: datetime | None = None,
    want_view: bool = True,
) -> CaseView | None:
    """Persist one accepted event on a locked case."""
    d = compiled.definition
    case_id = case.id
    version = case.version
    seq = version + 1
    src = d.states[applied.from_state]
    dst = d.states[applied.to_state]
    previous_state = case.previous_state
    entry_seq = case.state_entry_seq
    overdue_since = case.overdue_since if keep_overdue is None else keep_overdue
    closed_at = case.closed_at
    timers_known: list[TimerView] | None = None
    if applied.entered:
        entry_seq = seq
        overdue_since = None
        closed_at = now if dst.final else None
        timers_known = move_timers(tx, d, case_id, src, dst, applied, applied.record, seq, now)
        if dst.final and d.item_types:  # open items stay as they are; their timers end
            tx.cancel_item_timers(case_id, None, (TimerScope.ITEM, TimerScope.ITEM_CLOCK))
        if dst.hold and not src.hold:
            previous_state = src.name
    if d.clocks:
        returned = applied.entered and src.hold and applied.transition.returns_to_previous
        change = ClockChange(
            case_id,
            event,
            src,
            dst,
            applied.entered,
            returned,
            case.record,
            applied.record,
            seq,
            now,
        )
        clocks = apply_clock_changes(tx, d, change)
        if clocks is not None:
            overdue_since = _with_clocks(overdue_since, clocks)
            timers_known = None
    if outcome is None:
        outcome = HistoryOutcome.TRANSITIONED if applied.entered else HistoryOutcome.INTERNAL
    hist = history_record(
        case_id=case_id,
        seq=seq,
        event=event,
        from_state=applied.from_state,
        to_state=applied.to_state,
        outcome=outcome,
        workflow_version=d.version,
        facts=facts,
        now=now,
        prev_hash=case.last_hash,
        record=applied.record,
        head=head_hash(
            workflow_name=case.workflow_name,
            workflow_version=case.workflow_version,
            state=dst.name,
            phase=dst.phase.value,
            previous_state=previous_state,
            state_entry_seq=entry_seq,
            opened_at=case.opened_at,
            closed_at=closed_at,
        ),
    )
    after = CaseRecord(
        case_id,
        case.workflow_name,
        case.workflow_version,
        dst.name,
        dst.phase.value,
        applied.record,
        seq,
        previous_state,
        entry_seq,
        hist.hash,
        overdue_since,
        case.opened_at,
        now,
        closed_at,
    )
    if not tx.advance_case(case, after, hist):
        current = tx.get_case(case_id)
        raise ConcurrencyConflict(
            case_id=case_id,
            expected_version=version,
            actual_version=current.version if current else -1,
            state=current.state if current else "?",
        )
    sync_keys(tx, d, case, after)
    sync_owner(tx, d, case, after)
    tx.insert_outbox(
        outbox_records(
            case_id,
            seq,
            applied.actions,
            event=event,
            definition=d,
            now=now,
            record=applied.record,
            payload=facts.payload,
        )
    )
    if not want_view:
        return None
    if d.item_types:
        every = [timer_view(r) for r in tx.live_timers_of(case_id)]
        return case_view(after, every, tx.items_of(case_id))
    if timers_known is None:
        timers_known = [timer_view(r) for r in tx.live_timers_of(case_id)]
    return case_view(after, timers_known)


def _with_clocks(overdue_since: datetime | None, clocks: ClockOverdue) -> datetime | None:
    """The case's overdue instant once its clocks changed: a clock-made one ends with the
    clock (stopped or restarted); an overdue clock keeps the case overdue."""
    if clocks.before is not None and overdue_since == clocks.before:
        overdue_since = None
    if clocks.after is None:
        return overdue_since
    return clocks.after if overdue_since is None else min(overdue_since, clocks.after)


def record_ignored(
    tx: StoreTransaction,
    compiled: CompiledWorkflow,
    case: CaseRecord,
    event: str,
    facts: HistoryFacts,
    now: datetime,
    overdue: datetime | None,
) -> None:
    """History row for a timer whose event no transition accepted now."""
    seq = case.version + 1
    hist = history_record(
        case_id=case.id,
        seq=seq,
        event=event,
        from_state=case.state,
        to_state=case.state,
        outcome=HistoryOutcome.TIMER_IGNORED,
        workflow_version=compiled.definition.version,
        facts=facts,
        now=now,
        prev_hash=case.last_hash,
        record=case.record,
        head=case_head_hash(case),
    )
    after = CaseRecord(
        case.id,
        case.workflow_name,
        case.workflow_version,
        case.state,
        case.phase,
        case.record,
        seq,
        case.previous_state,
        case.state_entry_seq,
        hist.hash,
        overdue if overdue is not None else case.overdue_since,
        case.opened_at,
        now,
        case.closed_at,
    )
    if not tx.advance_case(case, after, hist):  # pragma: no cover
        raise ConcurrencyConflict(  # the case is locked: not expected
            case_id=case.id, expected_version=case.version, actual_version=-1, state=case.state
        )


def case_items(
    tx: StoreTransaction, compiled: CompiledWorkflow, case_id: str
) -> dict[str, list[Any]] | None:
    """``items`` for the case's CEL (None, and no query, when the workflow declares none)."""
    types = compiled.definition.item_types
    if not types:
        return None
    return items_map(types, tx.items_of(case_id))


def case_head_hash(case: CaseRecord) -> str:
    """The :func:`~engine.runtime.audit.head_hash` of a case as stored."""
    return head_hash(
        workflow_name=case.workflow_name,
        workflow_version=case.workflow_version,
        state=case.state,
        phase=case.phase,
        previous_state=case.previous_state,
        state_entry_seq=case.state_entry_seq,
        opened_at=case.opened_at,
        closed_at=case.closed_at,
    )


def fire_timer_event(
    tx: StoreTransaction,
    compiled: CompiledWorkflow,
    case: CaseRecord,
    timer: TimerRecord,
    now: datetime,
    *,
    actor: str,
    roles: tuple[str, ...],
    payload: Mapping[str, Any],
    overdue: datetime | None,
) -> Applied | None:
    """Send a claimed timer's (or clock's) event through the transition path and persist
    it (history outcome ``timer``, lateness recorded); None when no transition accepts
    it now (history outcome ``timer_ignored``)."""
    assert timer.due_at is not None
    facts = HistoryFacts(
        actor=actor,
        roles=roles,
        payload=payload,
        idempotency_key=None,
        timer=timer.name,
        lateness_seconds=max(0.0, (now - timer.due_at).total_seconds()),
    )
    try:
        applied = compiled.apply(
            case_id=case.id,
            state=case.state,
            previous_state=case.previous_state,
            event=timer.event,
            payload={},
            record=case.record,
            roles=roles,
            now=now,
            system=True,
            items=case_items(tx, compiled, case.id),
        )
    except (EventRejected, PayloadInvalid):
        record_ignored(tx, compiled, case, timer.event, facts, now, overdue)
        return None
    commit_applied(
        tx,
        compiled,
        case,
        applied,
        event=timer.event,
        facts=facts,
        now=now,
        outcome=HistoryOutcome.TIMER,
        keep_overdue=overdue,
        want_view=False,
    )
    return applied
