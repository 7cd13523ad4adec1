"""Database rows to the immutable views the facade returns, and back for replays."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from engine.runtime.views import CaseView, HistoryEntry, OutboxItem, TimerView, freeze


def timer_view(row: Mapping[str, Any]) -> TimerView:
    return TimerView(
        id=int(row["id"]),
        case_id=row["case_id"],
        name=row["name"],
        event=row["event"],
        state=row["state"],
        due_at=row["due_at"],
        status=row["status"],
        recurring=bool(row["recurring"]),
        remaining_seconds=row["remaining_seconds"],
        attempts=int(row.get("attempts") or 0),
        last_error=row.get("last_error"),
    )


def case_view(row: Mapping[str, Any], timers: Iterable[Mapping[str, Any]]) -> CaseView:
    return CaseView(
        id=row["id"],
        workflow=row["workflow_name"],
        workflow_version=int(row["workflow_version"]),
        state=row["state"],
        phase=row["phase"],
        version=int(row["version"]),
        record=freeze(row["record"]),
        opened_at=row["opened_at"],
        updated_at=row["updated_at"],
        closed_at=row["closed_at"],
        pending_timers=tuple(timer_view(t) for t in timers),
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


def history_entry(row: Mapping[str, Any]) -> HistoryEntry:
    return HistoryEntry(
        case_id=row["case_id"],
        seq=int(row["seq"]),
        event=row["event"],
        from_state=row["from_state"],
        to_state=row["to_state"],
        actor=row["actor"],
        roles=tuple(row["roles"]),
        payload=freeze(row["payload"]),
        idempotency_key=row["idempotency_key"],
        workflow_version=int(row["workflow_version"]),
        recorded_at=row["recorded_at"],
        outcome=row["outcome"],
        timer=row["timer"],
        lateness_seconds=row["lateness_seconds"],
        hash=row["hash"],
        prev_hash=row["prev_hash"],
    )


def outbox_item(row: Mapping[str, Any]) -> OutboxItem:
    return OutboxItem(
        id=int(row["id"]),
        case_id=row["case_id"],
        action=row["action"],
        status=row["status"],
        attempts=int(row["attempts"]),
        next_attempt_at=row["next_attempt_at"],
        last_error=row["last_error"],
        created_at=row["created_at"],
        history_seq=int(row["history_seq"]),
    )
