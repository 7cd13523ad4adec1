"""Rows to records and back: the one place that knows which column holds which field.

Each record's columns are selected in the record's field order, so a row
becomes a record positionally (``CaseRecord(*row)``) without a dict per row.
Statuses and outcomes are read back as their enums.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from operator import attrgetter
from typing import Any

import sqlalchemy as sa

from engine.store import tables as t
from engine.store.records import (
    AccessRecord,
    CaseRecord,
    CheckpointRecord,
    DefinitionRecord,
    HistoryOutcome,
    HistoryRecord,
    IdempotencyRecord,
    ItemRecord,
    OutboxRecord,
    OutboxStatus,
    TimerRecord,
    TimerScope,
    TimerStatus,
)


def _names(record: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(record))


def _columns(table: sa.Table, record: type) -> tuple[sa.Column[Any], ...]:
    return tuple(table.c[name] for name in _names(record))


CASE_FIELDS = _names(CaseRecord)
CASE_COLUMNS = _columns(t.cases, CaseRecord)
HISTORY_FIELDS = _names(HistoryRecord)
HISTORY_COLUMNS = _columns(t.history, HistoryRecord)
#: the history columns an insert binds (``change_seq`` comes from the change counter)
HISTORY_INSERT_FIELDS = tuple(f for f in HISTORY_FIELDS if f != "change_seq")
TIMER_FIELDS = _names(TimerRecord)
TIMER_COLUMNS = _columns(t.timers, TimerRecord)
OUTBOX_FIELDS = _names(OutboxRecord)
OUTBOX_COLUMNS = _columns(t.outbox, OutboxRecord)
IDEMPOTENCY_COLUMNS = _columns(t.idempotency, IdempotencyRecord)
DEFINITION_FIELDS = _names(DefinitionRecord)
DEFINITION_COLUMNS = _columns(t.workflow_definitions, DefinitionRecord)
ACCESS_FIELDS = _names(AccessRecord)
ACCESS_COLUMNS = _columns(t.access_log, AccessRecord)
ITEM_FIELDS = _names(ItemRecord)
ITEM_COLUMNS = _columns(t.case_items, ItemRecord)
CHECKPOINT_FIELDS = _names(CheckpointRecord)
CHECKPOINT_COLUMNS = _columns(t.audit_checkpoints, CheckpointRecord)

_TIMER_STATUS: dict[str, Any] = dict(TimerStatus._value2member_map_)
_OUTBOX_STATUS: dict[str, Any] = dict(OutboxStatus._value2member_map_)
_OUTCOME: dict[str, Any] = dict(HistoryOutcome._value2member_map_)
_TIMER_SCOPE: dict[str, Any] = dict(TimerScope._value2member_map_)


def _values(names: tuple[str, ...]) -> Any:
    get = attrgetter(*names)

    def values(record: Any) -> dict[str, Any]:
        return dict(zip(names, get(record), strict=True))

    return values


case_values = _values(CASE_FIELDS)
definition_values = _values(DEFINITION_FIELDS)
access_values = _values(ACCESS_FIELDS)
checkpoint_values = _values(CHECKPOINT_FIELDS)
item_values = _values(ITEM_FIELDS)
_timer_values = _values(TIMER_FIELDS[1:])
_outbox_values = _values(OUTBOX_FIELDS[1:])


def history_values(h: HistoryRecord) -> dict[str, Any]:
    return {
        "case_id": h.case_id,
        "seq": h.seq,
        "event": h.event,
        "from_state": h.from_state,
        "to_state": h.to_state,
        "actor": h.actor,
        "roles": list(h.roles),
        "payload": h.payload,
        "idempotency_key": h.idempotency_key,
        "workflow_version": h.workflow_version,
        "recorded_at": h.recorded_at,
        "outcome": h.outcome,
        "timer": h.timer,
        "lateness_seconds": h.lateness_seconds,
        "prev_hash": h.prev_hash,
        "hash": h.hash,
        "record_hash": h.record_hash,
        "head_hash": h.head_hash,
        "client": h.client,
        "item_id": h.item_id,
        "item_from": h.item_from,
        "item_to": h.item_to,
    }


def timer_values(timer: TimerRecord) -> dict[str, Any]:
    """The columns of a timer to insert (the id is the database's)."""
    values: dict[str, Any] = _timer_values(timer)
    return values


def outbox_values(item: OutboxRecord) -> dict[str, Any]:
    """The columns of an outbox item to insert (the id is the database's)."""
    values: dict[str, Any] = _outbox_values(item)
    return values


def idempotency_values(e: IdempotencyRecord) -> dict[str, Any]:
    return {
        "key": e.key,
        "fingerprint": e.fingerprint,
        "case_id": e.case_id,
        "response": e.response,
        "created_at": e.created_at,
    }


def case_record(row: Sequence[Any]) -> CaseRecord:
    return CaseRecord(*row[:14])


def timer_record(row: Sequence[Any]) -> TimerRecord:
    return TimerRecord(  # type: ignore[call-arg]
        *row[:7], _TIMER_STATUS[row[7]], *row[8:17], _TIMER_SCOPE[row[17]], row[18]
    )


def outbox_record(row: Sequence[Any]) -> OutboxRecord:
    return OutboxRecord(*row[:7], _OUTBOX_STATUS[row[7]], *row[8:15])  # type: ignore[call-arg]


def history_record(row: Sequence[Any]) -> HistoryRecord:
    (cid, seq, ev, fs, ts, actor, roles, payload, key, wv, at, outcome, *rest) = row
    return HistoryRecord(
        cid, seq, ev, fs, ts, actor, tuple(roles), payload, key, wv, at, _OUTCOME[outcome], *rest
    )


def item_record(row: Sequence[Any]) -> ItemRecord:
    return ItemRecord(*row)


def idempotency_record(row: Sequence[Any]) -> IdempotencyRecord:
    return IdempotencyRecord(*row)


def definition_record(row: Sequence[Any]) -> DefinitionRecord:
    return DefinitionRecord(*row)


def access_record(row: Sequence[Any]) -> AccessRecord:
    return AccessRecord(*row)


def checkpoint_record(row: Sequence[Any]) -> CheckpointRecord:
    return CheckpointRecord(*row)
