"""Store records to the immutable views the facade returns, and back for replays."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from engine.runtime.views import CaseView, HistoryEntry, OutboxItem, TimerView, freeze
from engine.store.records import CaseRecord, HistoryRecord, OutboxRecord, TimerRecord


def timer_view(timer: TimerRecord, *, timer_id: int | None = None) -> TimerView:
    """The view of a stored timer (``timer_id`` for one just inserted, whose record has none)."""
    tid = timer.id if timer_id is None else timer_id
    assert tid is not None
    return TimerView(
        id=tid,
        case_id=timer.case_id,
        name=timer.name,
        event=timer.event,
        state=timer.state,
        due_at=timer.due_at,
        status=timer.status,
        recurring=bool(timer.recurring),
        remaining_seconds=timer.remaining_seconds,
        attempts=timer.attempts,
        last_error=timer.last_error,
        scope=timer.scope,
        fired_at=timer.fired_at,
    )


def case_view(case: CaseRecord, timers: Iterable[TimerView]) -> CaseView:
    return CaseView(
        id=case.id,
        workflow=case.workflow_name,
        workflow_version=case.workflow_version,
        state=case.state,
        phase=case.phase,
        version=case.version,
        record=freeze(case.record),
        opened_at=case.opened_at,
        updated_at=case.updated_at,
        closed_at=case.closed_at,
        pending_timers=tuple(timers),
    )


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def case_view_from_dict(d: Mapping[str, Any]) -> CaseView:
    """Rebuild a :class:`CaseView` stored with ``to_dict`` (idempotent replays)."""
    timers = tuple(
        TimerView(
            id=int(t["id"]),
            case_id=t["case_id"],
            name=t["name"],
            event=t["event"],
            state=t["state"],
            due_at=_dt(t["due_at"]),
            status=t["status"],
            recurring=bool(t["recurring"]),
            remaining_seconds=t["remaining_seconds"],
            scope=t.get("scope", "state"),
            fired_at=_dt(t.get("fired_at")),
        )
        for t in d["pending_timers"]
    )
    opened = datetime.fromisoformat(d["opened_at"])
    updated = datetime.fromisoformat(d["updated_at"])
    return CaseView(
        id=d["id"],
        workflow=d["workflow"],
        workflow_version=int(d["workflow_version"]),
        state=d["state"],
        phase=d["phase"],
        version=int(d["version"]),
        record=freeze(d["record"]),
        opened_at=opened,
        updated_at=updated,
        closed_at=_dt(d["closed_at"]),
        pending_timers=timers,
    )


def history_entry(h: HistoryRecord) -> HistoryEntry:
    return HistoryEntry(
        case_id=h.case_id,
        seq=h.seq,
        event=h.event,
        from_state=h.from_state,
        to_state=h.to_state,
        actor=h.actor,
        roles=tuple(h.roles),
        payload=freeze(h.payload),
        idempotency_key=h.idempotency_key,
        workflow_version=h.workflow_version,
        recorded_at=h.recorded_at,
        outcome=h.outcome,
        timer=h.timer,
        lateness_seconds=h.lateness_seconds,
        hash=h.hash,
        prev_hash=h.prev_hash,
    )


def outbox_item(item: OutboxRecord) -> OutboxItem:
    assert item.id is not None
    return OutboxItem(
        id=item.id,
        case_id=item.case_id,
        action=item.action,
        status=item.status,
        attempts=item.attempts,
        next_attempt_at=item.next_attempt_at,
        last_error=item.last_error,
        created_at=item.created_at,
        history_seq=item.history_seq,
    )
