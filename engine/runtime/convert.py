"""Store records to the immutable views the facade returns, and back for replays."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from engine.runtime.views import (
    CaseView,
    HistoryEntry,
    ItemView,
    OutboxItem,
    TimerView,
    freeze,
)
from engine.store.records import CaseRecord, HistoryRecord, ItemRecord, OutboxRecord, TimerRecord


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
        item_id=timer.item_id,
    )


#: the views (without timers) of the item records last seen, by (case, item): the store
#: hands out the same record object again while the item is unchanged (its row cache),
#: and only that very object (``is``) reuses the view, so its data is frozen once
_VIEWS: dict[tuple[str, str], tuple[ItemRecord, ItemView]] = {}
_VIEWS_LIMIT = 50_000


def _bare_item_view(item: ItemRecord) -> ItemView:
    key = (item.case_id, item.item_id)
    seen = _VIEWS.get(key)
    if seen is not None and seen[0] is item:
        return seen[1]
    view = ItemView(
        id=item.item_id,
        type=item.type,
        state=item.state,
        data=freeze(item.data),
        version=item.version,
        opened_at=item.opened_at,
        updated_at=item.updated_at,
        closed_at=item.closed_at,
    )
    if len(_VIEWS) >= _VIEWS_LIMIT:
        _VIEWS.clear()
    _VIEWS[key] = (item, view)
    return view


def item_view(item: ItemRecord, timers: Iterable[TimerView] = ()) -> ItemView:
    """The view of a stored item (``timers``: every live timer of the case, or its own)."""
    view = _bare_item_view(item)
    own = tuple(t for t in timers if t.item_id == item.item_id)
    return replace(view, timers=own) if own else view


def item_map(item: ItemRecord) -> dict[str, Any]:
    """An item as CEL sees it (``item``, and each entry of ``items``)."""
    return {
        "id": item.item_id,
        "type": item.type,
        "state": item.state,
        "data": item.data,
        "opened_at": item.opened_at,
        "closed_at": item.closed_at,
        "closed": item.closed_at is not None,
    }


def items_map(types: Iterable[str], items: Iterable[ItemRecord]) -> dict[str, list[Any]]:
    """``items`` for CEL: every declared item type -> the case's items of it, oldest first."""
    out: dict[str, list[Any]] = {t: [] for t in types}
    for i in items:
        out.setdefault(i.type, []).append(item_map(i))
    return out


def case_view(
    case: CaseRecord, timers: Iterable[TimerView], items: Iterable[ItemRecord] = ()
) -> CaseView:
    """The view of a case; ``timers`` may hold its items' timers too: each goes to its item."""
    every = tuple(timers)
    by_item: dict[str, list[TimerView]] = {}
    for t in every:
        if t.item_id is not None:
            by_item.setdefault(t.item_id, []).append(t)
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
        pending_timers=tuple(t for t in every if t.item_id is None),
        overdue_since=case.overdue_since,
        items=tuple(item_view(i, by_item.get(i.item_id, ())) for i in items),
    )


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _timer_from_dict(t: Mapping[str, Any]) -> TimerView:
    return TimerView(
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
        item_id=t.get("item_id"),
    )


def _item_from_dict(i: Mapping[str, Any]) -> ItemView:
    return ItemView(
        id=i["id"],
        type=i["type"],
        state=i["state"],
        data=freeze(i["data"]),
        version=int(i["version"]),
        opened_at=datetime.fromisoformat(i["opened_at"]),
        updated_at=datetime.fromisoformat(i["updated_at"]),
        closed_at=_dt(i["closed_at"]),
        timers=tuple(_timer_from_dict(t) for t in i["timers"]),
    )


def case_view_from_dict(d: Mapping[str, Any]) -> CaseView:
    """Rebuild a :class:`CaseView` stored with ``to_dict`` (idempotent replays)."""
    timers = tuple(_timer_from_dict(t) for t in d["pending_timers"])
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
        items=tuple(_item_from_dict(i) for i in d.get("items", ())),  # absent before items
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
        client=h.client,
        item_id=h.item_id,
        item_from=h.item_from,
        item_to=h.item_to,
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
