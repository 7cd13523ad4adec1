"""Work items across cases behind :meth:`engine.Engine.find_items`.

Filters are an :class:`~engine.store.records.ItemQuery` (workflow, item type,
state, open, overdue); the order is oldest opened first, then case id and item
id, and a cursor carries the last item's ``(opened_at, case_id, item_id)``.
``with_total`` also counts every matching item (one COUNT query). Each
:class:`ItemMatch` carries its case id and workflow, the item (with its own
live timers) and whether it is overdue now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.runtime.context import EngineContext
from engine.runtime.convert import item_view, timer_view
from engine.runtime.cursors import decode_cursor, encode_cursor
from engine.runtime.views import ItemView, Page, TimerView
from engine.store.records import ItemQuery

__all__ = ["ItemMatch", "find_items", "is_overdue"]


@dataclass(frozen=True, slots=True)
class ItemMatch:
    """One work item found by :meth:`engine.Engine.find_items`: its case and whether it is late."""

    case_id: str
    workflow: str
    item: ItemView
    overdue: bool  # a timer or clock of its own pending past due, or left overdue

    def to_dict(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "workflow": self.workflow,
            **self.item.to_dict(),
            "overdue": self.overdue,
        }


def is_overdue(timers: tuple[TimerView, ...], now: datetime, *, closed: bool) -> bool:
    """Whether an item with these live timers is overdue at ``now``."""
    if closed:
        return False
    for t in timers:
        late = t.status == "pending" and t.due_at is not None and t.due_at <= now
        if late or t.status == "overdue":
            return True
    return False


def _after(cursor: str | None) -> tuple[datetime, str, str] | None:
    if cursor is None:
        return None
    values = decode_cursor(cursor)
    if len(values) != 3 or values[0] == "" or not all(isinstance(v, str) for v in values):
        raise ValueError("the cursor is not one of an item listing")
    try:
        return datetime.fromisoformat(values[0]), values[1], values[2]
    except ValueError:
        raise ValueError("invalid cursor") from None


def find_items(
    ctx: EngineContext,
    query: ItemQuery,
    *,
    limit: int,
    cursor: str | None,
    with_total: bool,
) -> Page[ItemMatch]:
    """One page of items matching ``query``; raises ValueError on a bad cursor or limit."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    after = _after(cursor)
    with ctx.store.read() as tx:
        now = ctx.now(tx)
        rows = tx.find_items(query, now=now, limit=limit, after=after)
        timers = tx.live_timers_for(sorted({r.case_id for r in rows}))
        total = tx.count_items_matching(query, now=now) if with_total else None
    out: list[ItemMatch] = []
    for r in rows:
        own = [timer_view(t) for t in timers.get(r.case_id, []) if t.item_id == r.item_id]
        view = item_view(r, own)
        late = is_overdue(view.timers, now, closed=view.closed)
        out.append(ItemMatch(r.case_id, r.workflow_name, view, late))
    nxt = None
    if len(rows) == limit:
        last = rows[-1]
        nxt = encode_cursor([last.opened_at, last.case_id, last.item_id])
    return Page(items=tuple(out), next_cursor=nxt, total=total)
