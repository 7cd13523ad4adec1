"""The write path of work items: add one, send it an event, fire its timers.

Everything runs inside the caller's transaction on a locked case, as for case
events (:mod:`engine.runtime.transact`): every item change appends ONE row to
the case's hash-chained history naming the item (``item_id``, ``item_from``,
``item_to``; the case's own state unchanged), bumps the case row's version
(optimistic concurrency stays per case), writes the item row, arms and
cancels the item's timers and clocks, and queues its outbox rows. An item
transition's (or creation's) ``case_event`` is then delivered to the case in
the same transaction, like a timer's event (no role check, the item event's
actor, empty payload), as a row of its own; when no case transition accepts
it now, nothing more happens.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from engine.definitions.items import ITEM_CREATE_EVENT, ITEM_ID_PATTERN, ItemType
from engine.definitions.model import Timer, TimerKind
from engine.errors import (
    ConcurrencyConflict,
    EngineError,
    EventRejected,
    ItemIdTaken,
    ItemNotFound,
    PayloadInvalid,
)
from engine.runtime.convert import case_view, item_map, timer_view
from engine.runtime.item_machine import CompiledItemType
from engine.runtime.machine import CompiledWorkflow
from engine.runtime.timers import first_due
from engine.runtime.transact import (
    HistoryFacts,
    case_head_hash,
    case_items,
    commit_applied,
    history_record,
    outbox_records,
)
from engine.runtime.views import CaseView
from engine.store.interface import StoreTransaction
from engine.store.records import (
    CaseRecord,
    HistoryOutcome,
    ItemRecord,
    RejectionReason,
    TimerRecord,
    TimerScope,
    TimerStatus,
)
from engine.timing.due import next_recurrence

_ITEM_ID = re.compile(ITEM_ID_PATTERN)
_ALL_SCOPES = (TimerScope.ITEM, TimerScope.ITEM_CLOCK)


def case_view_of(tx: StoreTransaction, case: CaseRecord) -> CaseView:
    """The view of a case with its items and every live timer (its own and its items')."""
    timers = [timer_view(r) for r in tx.live_timers_of(case.id)]
    return case_view(case, timers, tx.items_of(case.id))


def _compiled_type(compiled: CompiledWorkflow, name: str) -> CompiledItemType:
    cit = compiled.item_types.get(name)
    if cit is None:  # a stored item of a type its version no longer declares: not expected
        raise EngineError(f"item type {name!r} is not declared by the case's workflow version")
    return cit


# -- rows ------------------------------------------------------------------------------


def append_item_row(
    tx: StoreTransaction,
    compiled: CompiledWorkflow,
    case: CaseRecord,
    *,
    event: str,
    outcome: HistoryOutcome,
    facts: HistoryFacts,
    now: datetime,
    item: tuple[str, str | None, str],
) -> CaseRecord:
    """Append the history row of an item change to the case's chain; the case as after."""
    seq = case.version + 1
    hist = history_record(
        case_id=case.id,
        seq=seq,
        event=event,
        from_state=case.state,
        to_state=case.state,
        outcome=outcome,
        workflow_version=compiled.definition.version,
        facts=facts,
        now=now,
        prev_hash=case.last_hash,
        record=case.record,
        head=case_head_hash(case),
        item=item,
    )
    after = replace(case, version=seq, last_hash=hist.hash, updated_at=now)
    if not tx.advance_case(case, after, hist):
        current = tx.get_case(case.id)
        raise ConcurrencyConflict(
            case_id=case.id,
            expected_version=case.version,
            actual_version=current.version if current else -1,
            state=current.state if current else "?",
        )
    return after


def _commit_item(
    tx: StoreTransaction,
    compiled: CompiledWorkflow,
    case: CaseRecord,
    before: ItemRecord | None,
    after: ItemRecord,
    *,
    event: str,
    outcome: HistoryOutcome,
    facts: HistoryFacts,
    now: datetime,
    actions: Sequence[str],
    entered: bool,
) -> CaseRecord:
    case_after = append_item_row(
        tx,
        compiled,
        case,
        event=event,
        outcome=outcome,
        facts=facts,
        now=now,
        item=(after.item_id, before.state if before else None, after.state),
    )
    if before is None:
        tx.insert_item(after)
    elif not tx.update_item(before, after):  # pragma: no cover - the case is locked
        raise ConcurrencyConflict(
            case_id=case.id, expected_version=case.version, actual_version=-1, state=case.state
        )
    item_type = _compiled_type(compiled, after.type).item_type
    if before is None or entered:
        move_item_timers(tx, compiled, case_after, item_type, before, after, now)
    tx.insert_outbox(
        outbox_records(
            case.id,
            case_after.version,
            actions,
            event=event,
            definition=compiled.definition,
            now=now,
            record=case.record,
            payload=facts.payload,
        )
    )
    return case_after


# -- timers ------------------------------------------------------------------------------


def _timer_rows(
    case: CaseRecord,
    item: ItemRecord,
    timers: Sequence[Timer],
    scope: TimerScope,
    compiled: CompiledWorkflow,
    now: datetime,
) -> list[TimerRecord]:
    rows = []
    seen = item_map(item)
    for tm in timers:
        due = first_due(
            tm,
            entered_at=now,
            definition=compiled.definition,
            case=case.record,
            case_id=case.id,
            item=seen,
        )
        if due is None:
            continue
        rows.append(
            TimerRecord(
                None,
                case.id,
                tm.name,
                tm.event,
                tm.state,
                item.state_entry_seq,
                due,
                TimerStatus.PENDING,
                tm.kind == TimerKind.EVERY,
                False,
                None,
                now,
                scope=scope,
                item_id=item.item_id,
            )
        )
    return rows


def move_item_timers(
    tx: StoreTransaction,
    compiled: CompiledWorkflow,
    case: CaseRecord,
    item_type: ItemType,
    before: ItemRecord | None,
    after: ItemRecord,
    now: datetime,
) -> None:
    """The item entered ``after.state`` (or was created in it): cancel the timers of the
    state it left, arm those of the state entered, stop and start its clocks."""
    if after.closed_at is not None:
        tx.cancel_item_timers(case.id, after.item_id, _ALL_SCOPES)
        return
    if before is not None:
        tx.cancel_item_timers(case.id, after.item_id, (TimerScope.ITEM,))
    timers = [
        Timer(
            name=tm.name,
            state=after.state,
            event=tm.event,
            kind=tm.kind,
            after=tm.after,
            business_days=tm.business_days,
            at=tm.at,
            offset=tm.offset,
            every=tm.every,
            catch_up=tm.catch_up,
            pausable=False,
            description=tm.description,
            location=tm.location,
            calendar=tm.calendar,
        )
        for tm in item_type.timers_of(after.state)
    ]
    rows = _timer_rows(case, after, timers, TimerScope.ITEM, compiled, now)
    old = before.state if before is not None else None
    stopped = [c.name for c in item_type.clocks if old in c.states and after.state not in c.states]
    if stopped:
        for r in tx.item_timers_of(case.id, after.item_id):
            if r.scope == TimerScope.ITEM_CLOCK and r.name in stopped and r.id is not None:
                tx.cancel_timer(r.id)
    started = [
        c.as_timer(after.state)
        for c in item_type.clocks
        if after.state in c.states and old not in c.states
    ]
    rows += _timer_rows(case, after, started, TimerScope.ITEM_CLOCK, compiled, now)
    if rows:
        tx.insert_timers(rows)


# -- case events ---------------------------------------------------------------------------


def _deliver_case_event(
    tx: StoreTransaction,
    compiled: CompiledWorkflow,
    case: CaseRecord,
    event: str,
    facts: HistoryFacts,
    now: datetime,
) -> None:
    """Send an item's ``case_event`` to its case like a timer's event: no role check, empty
    payload; nothing happens when no case transition accepts it now."""
    try:
        applied = compiled.apply(
            case_id=case.id,
            state=case.state,
            previous_state=case.previous_state,
            event=event,
            payload={},
            record=case.record,
            roles=facts.roles,
            now=now,
            system=True,
            items=case_items(tx, compiled, case.id),
        )
    except (EventRejected, PayloadInvalid):
        return
    case_facts = HistoryFacts(facts.actor, facts.roles, {}, None, client=facts.client)
    commit_applied(
        tx, compiled, case, applied, event=event, facts=case_facts, now=now, want_view=False
    )


# -- add, send, fire -------------------------------------------------------------------------


def _reject_create(case: CaseRecord, item_type: str, reason: str, detail: str) -> EventRejected:
    return EventRejected(
        case_id=case.id,
        state=case.state,
        event=ITEM_CREATE_EVENT,
        reason=reason,
        detail=detail,
        item_type=item_type,
        case_state=case.state,
    )


def add_item(
    tx: StoreTransaction,
    compiled: CompiledWorkflow,
    case: CaseRecord,
    *,
    item_type: str,
    payload: Mapping[str, Any],
    item_id: str | None,
    roles: Sequence[str],
    facts: HistoryFacts,
    now: datetime,
) -> CaseRecord:
    """Add an item to a locked case; the case as after (and after its ``case_event``).

    Raises EventRejected (unknown type, role missing, case state, maximum reached),
    ItemIdTaken, PayloadInvalid (the item id, or the data against the type's schema).
    """
    d = compiled.definition
    cit = compiled.item_types.get(item_type)
    if cit is None:
        declared = ", ".join(d.item_types) or "none"
        raise _reject_create(
            case,
            item_type,
            RejectionReason.UNKNOWN_ITEM_TYPE,
            f"the workflow declares no item type {item_type!r}; declared: {declared}",
        )
    it = cit.item_type
    rule = it.create
    if not set(rule.roles) & set(roles):
        raise _reject_create(
            case,
            item_type,
            RejectionReason.ROLE_MISSING,
            f"adding a {item_type} item needs one of the roles: {', '.join(rule.roles)}",
        )
    where = rule.case_states or tuple(s.name for s in d.states.values() if not s.final)
    if case.closed_at is not None or case.state not in where:
        raise _reject_create(
            case,
            item_type,
            RejectionReason.CASE_STATE,
            f"{item_type} items may be added in the case states: {', '.join(where)}",
        )
    count = tx.count_items(case.id, item_type)
    if count >= it.max_items:
        raise _reject_create(
            case,
            item_type,
            RejectionReason.ITEM_LIMIT,
            f"the case holds {count} {item_type} items, the maximum (max {it.max_items})",
        )
    if item_id is None:
        n = count + 1
        while tx.get_item(case.id, f"{item_type}-{n}") is not None:
            n += 1
        item_id = f"{item_type}-{n}"
    elif not isinstance(item_id, str) or not _ITEM_ID.match(item_id):
        raise PayloadInvalid(
            what="item id",
            json_path="$.item_id",
            problem=f"does not match {ITEM_ID_PATTERN}",
            case_id=case.id,
        )
    elif tx.get_item(case.id, item_id) is not None:
        raise ItemIdTaken(case.id, item_id)
    seq = case.version + 1
    initial = it.states[it.initial]
    stub = ItemRecord(
        case.id,
        item_id,
        case.workflow_name,
        item_type,
        it.initial,
        {},
        1,
        now,
        now,
        now if initial.final else None,
        seq,
        seq,
    )
    data = cit.create_data(
        case_id=case.id,
        case_state=case.state,
        item_id=item_id,
        payload=payload,
        case_record=case.record,
        items=(case_items(tx, compiled, case.id) or {}) if cit.uses_items else {},
        item=item_map(stub),
        now=now,
    )
    item = replace(stub, data=data)
    after = _commit_item(
        tx,
        compiled,
        case,
        None,
        item,
        event=ITEM_CREATE_EVENT,
        outcome=HistoryOutcome.ITEM_CREATED,
        facts=facts,
        now=now,
        actions=(*rule.actions, *initial.on_enter),
        entered=True,
    )
    if rule.case_event:
        _deliver_case_event(tx, compiled, after, rule.case_event, facts, now)
    return after


def send_item(
    tx: StoreTransaction,
    compiled: CompiledWorkflow,
    case: CaseRecord,
    item_id: str,
    *,
    event: str,
    payload: Mapping[str, Any],
    roles: Sequence[str],
    facts: HistoryFacts,
    now: datetime,
    system: bool = False,
    item: ItemRecord | None = None,
) -> CaseRecord:
    """Send ``event`` to an item of a locked case; the case as after.

    Raises ItemNotFound, EventRejected (closed item, wrong item state, role missing,
    guard false, a closed case), PayloadInvalid.
    """
    if item is None:
        item = tx.get_item(case.id, item_id)
    if item is None:
        raise ItemNotFound(case.id, item_id)
    cit = _compiled_type(compiled, item.type)
    if case.closed_at is not None:
        raise EventRejected(
            case_id=case.id,
            state=item.state,
            event=event,
            reason=RejectionReason.CASE_STATE,
            detail=f"the case is closed (state {case.state!r})",
            item_id=item.item_id,
            item_type=item.type,
            case_state=case.state,
        )
    applied = cit.apply(
        case_id=case.id,
        case_state=case.state,
        item=item_map(item),
        event=event,
        payload=payload,
        case_record=case.record,
        items=(case_items(tx, compiled, case.id) or {}) if cit.uses_items else {},
        roles=roles,
        now=now,
        system=system,
    )
    seq = case.version + 1
    entered = applied.entered
    final = applied.to_state in cit.item_type.final_states
    after = replace(
        item,
        state=applied.to_state,
        data=applied.data,
        version=item.version + 1,
        updated_at=now,
        closed_at=(now if final else None) if entered else item.closed_at,
        state_entry_seq=seq if entered else item.state_entry_seq,
    )
    if facts.timer is not None:
        outcome = HistoryOutcome.TIMER
    else:
        outcome = HistoryOutcome.TRANSITIONED if entered else HistoryOutcome.INTERNAL
    case_after = _commit_item(
        tx,
        compiled,
        case,
        item,
        after,
        event=event,
        outcome=outcome,
        facts=facts,
        now=now,
        actions=applied.actions,
        entered=entered,
    )
    if applied.transition.case_event:
        _deliver_case_event(tx, compiled, case_after, applied.transition.case_event, facts, now)
    return case_after


def fire_item_timer(
    tx: StoreTransaction,
    compiled: CompiledWorkflow,
    case: CaseRecord,
    timer: TimerRecord,
    now: datetime,
    *,
    actor: str,
    roles: tuple[str, ...],
) -> bool:
    """Fire a claimed item timer or clock: send its event to its item. False (the row
    cancelled) when the item is gone, closed, or left the state entry (the clock's
    states) that armed it. A firing no transition accepts is recorded (``timer_ignored``)."""
    assert timer.id is not None
    assert timer.due_at is not None
    item = tx.get_item(case.id, timer.item_id or "")
    cit = compiled.item_types.get(item.type) if item is not None else None
    stale = item is None or cit is None or item.closed_at is not None or case.closed_at is not None
    if not stale and item is not None and cit is not None:
        if timer.scope == TimerScope.ITEM:
            stale = item.state != timer.state or item.state_entry_seq != timer.state_entry_seq
        else:
            clock = next((c for c in cit.item_type.clocks if c.name == timer.name), None)
            stale = clock is None or item.state not in clock.states
    if stale or item is None or cit is None:
        tx.cancel_timer(timer.id)
        return False
    payload: dict[str, Any] = {}
    next_due: datetime | None = None
    tdef = next((t for t in cit.item_type.timers_of(item.state) if t.name == timer.name), None)
    if timer.recurring and timer.scope == TimerScope.ITEM and tdef is not None:
        next_due, skipped = next_recurrence(
            tdef,
            previous_due=timer.due_at,
            now=now,
            definition=compiled.definition,
            case=case.record,
        )
        if skipped:
            payload["skipped_periods"] = skipped
    facts = HistoryFacts(
        actor=actor,
        roles=roles,
        payload=payload,
        idempotency_key=None,
        timer=timer.name,
        lateness_seconds=max(0.0, (now - timer.due_at).total_seconds()),
    )
    entered = False
    try:
        send_item(
            tx,
            compiled,
            case,
            item.item_id,
            event=timer.event,
            payload={},
            roles=roles,
            facts=facts,
            now=now,
            system=True,
            item=item,
        )
        current = tx.get_item(case.id, item.item_id)
        entered = current is None or current.state_entry_seq != item.state_entry_seq
    except (EventRejected, PayloadInvalid):
        append_item_row(
            tx,
            compiled,
            case,
            event=timer.event,
            outcome=HistoryOutcome.TIMER_IGNORED,
            facts=facts,
            now=now,
            item=(item.item_id, item.state, item.state),
        )
    if next_due is not None and not entered:
        tx.insert_timers(
            [
                replace(
                    timer,
                    id=None,
                    due_at=next_due,
                    status=TimerStatus.PENDING,
                    fired_at=None,
                    created_at=now,
                    attempts=0,
                    last_error=None,
                )
            ]
        )
    return True
