"""The facade's work-item calls (:class:`engine.Engine` delegates here).

Writes run as case events do (:meth:`engine.Engine.send`): one transaction on
the locked case, the expected version checked, idempotency keys replayed (the
same key and request give the same response, another request is
IdempotencyKeyReused), every row written by :mod:`engine.runtime.item_transact`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from engine.errors import CaseNotFound, ConcurrencyConflict, ItemNotFound
from engine.runtime.audit import fingerprint
from engine.runtime.context import EngineContext
from engine.runtime.convert import item_map, item_view, items_map, timer_view
from engine.runtime.idempotency import remember, replay, run_idempotent
from engine.runtime.item_transact import add_item as _add_item
from engine.runtime.item_transact import case_view_of
from engine.runtime.item_transact import send_item as _send_item
from engine.runtime.json_policy import MAX_PAYLOAD_BYTES, check_json, require_case_id
from engine.runtime.machine import CompiledWorkflow
from engine.runtime.transact import HistoryFacts
from engine.runtime.views import CaseView, EventOption, ItemView
from engine.store.interface import StoreTransaction
from engine.store.records import CaseRecord, RejectionReason

Change = Callable[[StoreTransaction, CompiledWorkflow, CaseRecord, datetime], CaseRecord]


def _change(
    ctx: EngineContext,
    case_id: str,
    *,
    key: str | None,
    fp: str | None,
    expected_version: int | None,
    work: Change,
) -> CaseView:
    def attempt(tx: StoreTransaction) -> CaseView:
        locked = tx.lock_case(case_id, with_db_now=ctx.use_db_clock)
        if locked is None:
            raise CaseNotFound(case_id)
        case, db_now = locked
        replayed = replay(tx, key, fp)
        if replayed is not None:
            return replayed
        if expected_version is not None and expected_version != case.version:
            raise ConcurrencyConflict(
                case_id=case_id,
                expected_version=expected_version,
                actual_version=case.version,
                state=case.state,
            )
        now = db_now if db_now is not None else ctx.clock.now()
        compiled = ctx.registry.compiled(case.workflow_name, case.workflow_version)
        work(tx, compiled, case, now)
        after = tx.get_case(case_id)
        assert after is not None
        view = case_view_of(tx, after)
        remember(tx, key, fp, view, now)
        return view

    return run_idempotent(ctx.store, key, attempt)


def _fingerprint(key: str | None, request: dict[str, Any], client: str | None) -> str | None:
    if key is None:
        return None
    return fingerprint({**request, **({"client": client} if client is not None else {})})


def add_item(
    ctx: EngineContext,
    case_id: str,
    item_type: str,
    payload: dict[str, Any],
    *,
    actor: str,
    roles: Sequence[str],
    item_id: str | None,
    idempotency_key: str | None,
    expected_version: int | None,
    client: str | None,
) -> CaseView:
    require_case_id(case_id)
    check_json(
        payload,
        what=f"payload of @create {item_type}",
        case_id=case_id,
        max_bytes=MAX_PAYLOAD_BYTES,
    )
    facts = HistoryFacts(actor, tuple(roles), payload, idempotency_key, client=client)
    request = {
        "op": "add_item",
        "case": case_id,
        "type": item_type,
        "item_id": item_id,
        "payload": payload,
        "actor": actor,
        "roles": sorted(roles),
        "expected_version": expected_version,
    }

    def work(
        tx: StoreTransaction, compiled: CompiledWorkflow, case: CaseRecord, now: datetime
    ) -> CaseRecord:
        return _add_item(
            tx,
            compiled,
            case,
            item_type=item_type,
            payload=payload,
            item_id=item_id,
            roles=roles,
            facts=facts,
            now=now,
        )

    return _change(
        ctx,
        case_id,
        key=idempotency_key,
        fp=_fingerprint(idempotency_key, request, client),
        expected_version=expected_version,
        work=work,
    )


def send_item(
    ctx: EngineContext,
    case_id: str,
    item_id: str,
    event: str,
    payload: dict[str, Any],
    *,
    actor: str,
    roles: Sequence[str],
    idempotency_key: str | None,
    expected_version: int | None,
    client: str | None,
) -> CaseView:
    require_case_id(case_id)
    check_json(
        payload, what=f"payload of item event {event}", case_id=case_id, max_bytes=MAX_PAYLOAD_BYTES
    )
    facts = HistoryFacts(actor, tuple(roles), payload, idempotency_key, client=client)
    request = {
        "op": "send_item",
        "case": case_id,
        "item": item_id,
        "event": event,
        "payload": payload,
        "actor": actor,
        "roles": sorted(roles),
        "expected_version": expected_version,
    }

    def work(
        tx: StoreTransaction, compiled: CompiledWorkflow, case: CaseRecord, now: datetime
    ) -> CaseRecord:
        return _send_item(
            tx,
            compiled,
            case,
            item_id,
            event=event,
            payload=payload,
            roles=roles,
            facts=facts,
            now=now,
        )

    return _change(
        ctx,
        case_id,
        key=idempotency_key,
        fp=_fingerprint(idempotency_key, request, client),
        expected_version=expected_version,
        work=work,
    )


def items(
    ctx: EngineContext, case_id: str, *, item_type: str | None, state: str | None
) -> list[ItemView]:
    require_case_id(case_id)
    with ctx.store.read() as tx:
        if tx.get_case(case_id) is None:
            raise CaseNotFound(case_id)
        rows = tx.items_of(case_id, item_type=item_type, state=state)
        timers = [timer_view(t) for t in tx.item_timers_of(case_id, None)] if rows else []
    return [item_view(r, timers) for r in rows]


def item(ctx: EngineContext, case_id: str, item_id: str) -> ItemView:
    require_case_id(case_id)
    with ctx.store.read() as tx:
        if tx.get_case(case_id) is None:
            raise CaseNotFound(case_id)
        row = tx.get_item(case_id, item_id)
        if row is None:
            raise ItemNotFound(case_id, item_id)
        timers = [timer_view(t) for t in tx.item_timers_of(case_id, item_id)]
    return item_view(row, timers)


def allowed_item_events(
    ctx: EngineContext, case_id: str, item_id: str, roles: frozenset[str]
) -> list[EventOption]:
    """Every event of the item's type, allowed now or with the reason it is not."""
    require_case_id(case_id)
    with ctx.store.read() as tx:
        case = tx.get_case(case_id)
        if case is None:
            raise CaseNotFound(case_id)
        row = tx.get_item(case_id, item_id)
        if row is None:
            raise ItemNotFound(case_id, item_id)
        every = tx.items_of(case_id)
    compiled = ctx.registry.compiled(case.workflow_name, case.workflow_version)
    cit = compiled.item_types[row.type]
    it = cit.item_type
    now = ctx.clock.now()
    seen: Mapping[str, Any] = item_map(row)
    all_items = items_map(compiled.definition.item_types, every)
    out: list[EventOption] = []
    for event in it.events:
        if row.closed_at is not None or case.closed_at is not None:
            why = "the item is closed" if row.closed_at is not None else "the case is closed"
            reason = (
                RejectionReason.ITEM_CLOSED
                if row.closed_at is not None
                else RejectionReason.CASE_STATE
            )
            out.append(EventOption(event, False, reason, why, ()))
            continue
        cands = cit.candidates(row.state, event)
        if not cands:
            sources = sorted({t.source for t in it.transitions if t.event == event})
            out.append(
                EventOption(
                    event, False, RejectionReason.WRONG_STATE, f"accepted in: {', '.join(sources)}"
                )
            )
            continue
        may_send = tuple(sorted({r for t in cands for r in t.roles}))
        mine = [t for t in cands if set(t.roles) & roles]
        if not mine:
            needs = (
                f"needs one of the roles: {', '.join(may_send)}"
                if may_send
                else "only the engine (timers) may send this event"
            )
            out.append(EventOption(event, False, RejectionReason.ROLE_MISSING, needs, may_send))
            continue
        reason_now: str | None = None
        detail: str | None = None
        allowed = False
        for t in mine:
            ok, why_not = cit.check_guard(
                t, case_record=case.record, items=all_items, item=seen, now=now
            )
            if ok:
                allowed = True
                break
            reason_now, detail = why_not, f"guard: {t.guard}"
        out.append(
            EventOption(
                event,
                allowed,
                None if allowed else reason_now,
                None if allowed else detail,
                may_send,
            )
        )
    return out
