"""Immutable, typed objects returned by the engine facade.

They are snapshots: changing the case afterwards does not change them, and
they cannot be changed. ``record`` and ``payload`` are deep-frozen
(``MappingProxyType`` and tuples); :func:`thaw` gives a plain, mutable copy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Generic, TypeVar

T = TypeVar("T")
_SCALARS = frozenset({str, int, float, bool, type(None)})


def freeze(value: Any) -> Any:
    """Deep-freeze JSON-like data: dicts become read-only mappings, lists tuples."""
    kind = type(value)
    if kind in _SCALARS:  # the common case first, without the ABC checks below
        return value
    if kind is dict:
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, Mapping):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """The inverse of :func:`freeze`: plain dicts and lists, safe to mutate."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class TimerView:
    """A timer row as operators see it."""

    id: int
    case_id: str
    name: str
    event: str
    state: str
    due_at: datetime | None  # None while paused
    status: str  # "pending" | "paused" | "fired" | "cancelled" | "overdue" (clocks)
    recurring: bool
    remaining_seconds: float | None = None  # while paused: the time that was left
    attempts: int = 0  # failed firings so far (each postponed with backoff)
    last_error: str | None = None  # exception type of the last failed firing
    scope: str = "state"  # "state": a state's timer; "clock": a case clock (state: where it began)
    fired_at: datetime | None = None  # for an overdue clock: when the deadline passed or it lapsed
    #: the work item of an item timer (scope "item") or item clock ("item_clock")
    item_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = self._fields()
        if self.item_id is not None:
            d["item_id"] = self.item_id
        return d

    def _fields(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "case_id": self.case_id,
            "name": self.name,
            "event": self.event,
            "state": self.state,
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "status": self.status,
            "recurring": self.recurring,
            "remaining_seconds": self.remaining_seconds,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "scope": self.scope,
            "fired_at": self.fired_at.isoformat() if self.fired_at else None,
        }


@dataclass(frozen=True, slots=True)
class ItemView:
    """A work item of a case as it is at one version of the case."""

    id: str
    type: str
    state: str
    data: Mapping[str, Any]
    version: int  # 1 when created, +1 on every change of the item
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None  # set when it entered a final state
    timers: tuple[TimerView, ...] = ()  # its pending timers and clocks

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "state": self.state,
            "data": thaw(self.data),
            "version": self.version,
            "opened_at": self.opened_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
            "closed": self.closed,
            "timers": [t.to_dict() for t in self.timers],
        }


@dataclass(frozen=True, slots=True)
class CaseView:
    """A case as it is at one version."""

    id: str
    workflow: str
    workflow_version: int
    state: str
    phase: str
    version: int  # row version: 1 when opened, +1 on every change
    record: Mapping[str, Any]
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    pending_timers: tuple[TimerView, ...] = ()
    # A deadline fired and the case stayed. Not in to_dict (nor compared): listings read it.
    overdue_since: datetime | None = field(default=None, compare=False)
    items: tuple[ItemView, ...] = ()  # every work item of the case, oldest first

    def item(self, item_id: str) -> ItemView | None:
        """The case's item with that id, or None."""
        return next((i for i in self.items if i.id == item_id), None)

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "workflow": self.workflow,
            "workflow_version": self.workflow_version,
            "state": self.state,
            "phase": self.phase,
            "version": self.version,
            "record": thaw(self.record),
            "opened_at": self.opened_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
            "pending_timers": [t.to_dict() for t in self.pending_timers],
            "items": [i.to_dict() for i in self.items],
        }


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One append-only history row of a case (tamper-evident: hash-chained)."""

    case_id: str
    seq: int  # 1, 2, 3... per case
    event: str  # "@open" for the row that opened the case
    from_state: str | None
    to_state: str
    actor: str
    roles: tuple[str, ...]
    payload: Mapping[str, Any]
    idempotency_key: str | None
    workflow_version: int
    recorded_at: datetime  # database timestamp
    outcome: str  # "opened" | "transitioned" | "internal" | "timer"
    timer: str | None = None  # name of the timer that sent the event
    lateness_seconds: float | None = None  # for timer firings: fired_at - due_at
    hash: str = ""
    prev_hash: str = ""
    client: str | None = None  # the API client that acted on behalf of ``actor``
    item_id: str | None = None  # the work item an item event changed (None on case rows)
    item_from: str | None = None  # its state before (None on its creation row, "@create")
    item_to: str | None = None  # its state after

    def to_dict(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "item_from": self.item_from,
            "item_to": self.item_to,
            "case_id": self.case_id,
            "seq": self.seq,
            "event": self.event,
            "from_state": self.from_state,
            "to_state": self.to_state,
            "actor": self.actor,
            "roles": list(self.roles),
            "payload": thaw(self.payload),
            "idempotency_key": self.idempotency_key,
            "workflow_version": self.workflow_version,
            "recorded_at": self.recorded_at.isoformat(),
            "outcome": self.outcome,
            "timer": self.timer,
            "lateness_seconds": self.lateness_seconds,
            "hash": self.hash,
            "prev_hash": self.prev_hash,
            "client": self.client,
        }


@dataclass(frozen=True, slots=True)
class EventOption:
    """Whether one event of the case's workflow may be sent now, and why not."""

    event: str
    allowed: bool
    # "wrong_state" | "guard_false" | "role_missing" | "guard_error" | "assignee_missing"
    reason: str | None = None
    detail: str | None = None
    roles: tuple[str, ...] = ()  # roles that may send it from the current state

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "allowed": self.allowed,
            "reason": self.reason,
            "detail": self.detail,
            "roles": list(self.roles),
        }


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """An action waiting for delivery, delivered, or dead-lettered."""

    id: int
    case_id: str
    action: str
    status: str  # "pending" | "done" | "dead"
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None  # exception type and message from the host's action
    created_at: datetime
    history_seq: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "case_id": self.case_id,
            "action": self.action,
            "status": self.status,
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at.isoformat() if self.next_attempt_at else None,
            "last_error": self.last_error,
            "created_at": self.created_at.isoformat(),
            "history_seq": self.history_seq,
        }


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of results; pass ``next_cursor`` back to get the next one."""

    items: Sequence[T]
    next_cursor: str | None
    total: int | None = None  # every match, when the caller asked for a count


@dataclass(frozen=True, slots=True)
class ActionContext:
    """What a host action receives: ids only, never the case record.

    ``idempotency_key`` is stable across retries of one delivery (it is the
    outbox id), so the host can make its side effect exactly once.
    """

    idempotency_key: str
    outbox_id: int
    case_id: str
    action: str
    event: str
    workflow: str
    workflow_version: int
    attempt: int  # 1 on the first delivery
    history_seq: int = 0  # the history entry whose commit queued the action
    #: what the workflow's CEL computed for the action when it was queued
    arguments: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BrokenLink:
    """The first history row whose hash chain does not verify."""

    case_id: str
    seq: int
    # "hash_mismatch" | "prev_hash_mismatch" | "seq_gap" | "head_mismatch" (tail deleted)
    # | "record_mismatch" (cases.record edited) | "state_mismatch" (state, phase, closure...
    # edited) | "orphan_history" | "missing_history" | "checkpoint_mismatch" |
    # "history_truncated" | "case_deleted" (against a checkpoint); case_id "" for the
    # access log ("access_seq_gap", "access_prev_hash_mismatch", "access_hash_mismatch",
    # "access_checkpoint_mismatch", "access_truncated") and the checkpoints
    # ("checkpoint_gap", "checkpoint_chain_mismatch", "checkpoint_seal_mismatch")
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "seq": self.seq, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class AuditReport:
    """The result of walking the hash chains of the history."""

    ok: bool
    cases_checked: int
    rows_checked: int
    first_broken: BrokenLink | None = None
    access_rows_checked: int = 0
    checkpoints_checked: int = 0
    #: False when a checkpoint is signed and no key was given to check its seal
    checkpoint_seals_checked: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "cases_checked": self.cases_checked,
            "rows_checked": self.rows_checked,
            "access_rows_checked": self.access_rows_checked,
            "checkpoints_checked": self.checkpoints_checked,
            "checkpoint_seals_checked": self.checkpoint_seals_checked,
            "first_broken": self.first_broken.to_dict() if self.first_broken else None,
        }


@dataclass(frozen=True, slots=True)
class EngineStats:
    """Counts for metrics and dashboards (no case data)."""

    cases_by_state: Mapping[tuple[str, str], int]  # (workflow, state) -> open + closed cases
    open_cases: int
    pending_timers: int
    paused_timers: int
    overdue_timers: int  # pending and past due
    oldest_pending_due: datetime | None
    outbox_pending: int
    outbox_dead: int
    overdue_clocks: int = 0  # case clocks that fired and were not yet stopped or restarted
    clock_lapses: int = 0  # clock firings ever recorded: deadlines passed, watchdog lapses
    #: (workflow, item type, item state) -> work items, open and closed
    items_by_state: Mapping[tuple[str, str, str], int] = field(default_factory=dict)
    overdue_items: int = 0  # work items with a timer or clock of their own past due

    def to_dict(self) -> dict[str, Any]:
        return {
            "cases_by_state": [
                {"workflow": w, "state": s, "count": n}
                for (w, s), n in sorted(self.cases_by_state.items())
            ],
            "open_cases": self.open_cases,
            "pending_timers": self.pending_timers,
            "paused_timers": self.paused_timers,
            "overdue_timers": self.overdue_timers,
            "oldest_pending_due": (
                self.oldest_pending_due.isoformat() if self.oldest_pending_due else None
            ),
            "outbox_pending": self.outbox_pending,
            "outbox_dead": self.outbox_dead,
            "overdue_clocks": self.overdue_clocks,
            "clock_lapses": self.clock_lapses,
            "items_by_state": [
                {"workflow": w, "type": k, "state": s, "count": n}
                for (w, k, s), n in sorted(self.items_by_state.items())
            ],
            "overdue_items": self.overdue_items,
        }
