"""Case continuity at run time: transfer a case to another workflow, reopen a closed one.

**Transfer** (``transfers:``, :class:`engine.definitions.continuity.Transfer`): in
one transaction the case takes the transfer's transition into its final state here
(history outcome ``transferred_out``), a new case opens in the target workflow's
newest version in the declared entry state (``@transfer_in``, outcome
``transferred_in``) with the mapped record, the declared clocks are carried with
their due instants, and a ``case_links`` row ties the two history rows together.
Each row names the other case under ``@link`` in its payload (covered by its hash)
and the opening row carries the closing row's hash, so :func:`check_links` can
verify the link from both sides.

**Reopening** (``reopen:``, :class:`engine.definitions.continuity.Reopening`): the
*same* case continues; its reopening event is an ordinary transition out of the
final state, checked first here (:func:`check_reopen`: closed, from a declared
state, by a declared role, inside the window) so that every refusal says exactly
why. Why the same case and not a linked episode: the readmission rule (CMS HRRP)
counts the readmission against the index stay, the bundled hospital workflow already
treats a readmission before closure as the same case, and keeping one id keeps
one hash chain, one history and the host systems' reference; the business key is
claimed again (a conflict with a case opened meanwhile is refused).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.definitions.continuity import Reopening, Transfer
from engine.definitions.expressions import ExpressionError, compile_expression
from engine.definitions.model import WorkflowDefinition
from engine.errors import PayloadInvalid, ReopenDenied, TransferInvalid
from engine.runtime.context import EngineContext
from engine.runtime.convert import case_view, timer_view
from engine.runtime.item_transact import append_item_row, move_item_timers
from engine.runtime.json_policy import MAX_RECORD_BYTES, check_json
from engine.runtime.machine import CompiledWorkflow
from engine.runtime.transact import HistoryFacts, commit_applied, open_case
from engine.runtime.views import CaseView
from engine.store.interface import StoreTransaction
from engine.store.records import (
    CaseLinkKind,
    CaseLinkRecord,
    CaseRecord,
    HistoryOutcome,
    ItemRecord,
    RejectionReason,
    TimerRecord,
    TimerScope,
    TimerStatus,
)
from engine.timing.calendar import add_duration, zone
from engine.timing.due import parse_at_value, resume_due, timezone_of

__all__ = [
    "LINK_KEY",
    "TransferResult",
    "check_links",
    "check_reopen",
    "choose_reopening",
    "find_transfer",
    "transfer_case",
]

LINK_KEY = "@link"
"""The history payload key naming the linked case (never a payload field: not snake_case)."""

TRANSFER_IN_EVENT = "@transfer_in"


@dataclass(frozen=True, slots=True)
class TransferResult:
    """Both sides of a transfer, as committed."""

    source: CaseView  # closed in its workflow
    target: CaseView  # open in the target workflow

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source.to_dict(), "target": self.target.to_dict()}


# -- transfer ---------------------------------------------------------------------------


def find_transfer(
    d: WorkflowDefinition, case_id: str, to_workflow: str, event: str | None
) -> Transfer:
    """The declared transfer to ``to_workflow`` (by ``event`` when several). Raises
    TransferInvalid naming the workflows this one declares transfers to."""
    declared = sorted({t.to_workflow for t in d.transfers})
    found = [
        t
        for t in d.transfers
        if t.to_workflow == to_workflow and (event is None or t.event == event)
    ]
    if not found:
        problem = (
            f"workflow {d.name!r} declares no transfer to it"
            if event is None
            else f"no transfer to it by event {event!r}"
        )
        raise TransferInvalid(
            case_id=case_id,
            workflow=d.name,
            to_workflow=to_workflow,
            problem=problem,
            declared=declared,
        )
    if len(found) > 1:
        raise TransferInvalid(
            case_id=case_id,
            workflow=d.name,
            to_workflow=to_workflow,
            problem="several transfers lead there: name the event "
            f"({', '.join(t.event for t in found)})",
            declared=declared,
        )
    return found[0]


def _mapped_record(
    transfer: Transfer,
    source: WorkflowDefinition,
    target: CompiledWorkflow,
    record: Mapping[str, Any],
    payload: Mapping[str, Any],
    case_id: str,
    now: datetime,
) -> dict[str, Any]:
    what = f"record mapped by transfer {transfer.event!r} to workflow {transfer.to_workflow!r}"
    mapped: dict[str, Any] = {}
    for field, source_text in transfer.record:
        try:
            value = compile_expression(source_text).evaluate(
                case=record, event=payload, params=source.parameters, now=now
            )
        except ExpressionError as exc:
            raise PayloadInvalid(
                what=what, json_path=f"$.{field}", problem=str(exc), case_id=case_id
            ) from None
        if isinstance(value, datetime):
            value = value.isoformat()
        mapped[field] = value
    check_json(mapped, what=what, case_id=case_id, max_bytes=MAX_RECORD_BYTES)
    out = {**target.defaults, **mapped}
    try:
        target.case_check.validate(out)
    except PayloadInvalid as exc:  # the JSON path in the target's record, and which mapping
        raise PayloadInvalid(
            what=what, json_path=exc.json_path, problem=exc.problem, case_id=case_id
        ) from None
    return out


def _check_fits(transfer: Transfer, case: CaseRecord, target: WorkflowDefinition) -> None:
    def invalid(problem: str) -> TransferInvalid:
        return TransferInvalid(
            case_id=case.id,
            workflow=case.workflow_name,
            to_workflow=target.name,
            problem=f"{problem} (target version {target.version})",
        )

    entry = target.states.get(transfer.entry)
    if entry is None:
        raise invalid(f"entry state {transfer.entry!r} is not a state of the target")
    if entry.final:
        raise invalid(f"entry state {transfer.entry!r} is final in the target")
    for _src, dst in transfer.clocks:
        if target.clock(dst) is None:
            raise invalid(f"carried clock {dst!r} is not a clock of the target")
    for carry in transfer.items:
        it = target.item_type(carry.target_type)
        if it is None:
            raise invalid(
                f"items of type {carry.source_type!r} are carried as {carry.target_type!r}, "
                f"which is not an item type of the target (declared: "
                f"{', '.join(target.item_types) or 'none'})"
            )
        for old, new in carry.states:
            if new not in it.states:
                raise invalid(
                    f"item state {old!r} of {carry.source_type!r} maps to {new!r}, which is "
                    f"not a state of the target's {it.name!r} items"
                )


def transfer_case(
    ctx: EngineContext,
    tx: StoreTransaction,
    case: CaseRecord,
    transfer: Transfer,
    payload: Mapping[str, Any],
    facts: HistoryFacts,
    now: datetime,
) -> TransferResult:
    """Run ``transfer`` on the locked ``case`` inside ``tx`` (see the module docstring).

    Raises EventRejected (state, role, guard: the transfer's transition), PayloadInvalid
    (the payload; the mapped record against the target's schema, with its JSON path),
    UnknownWorkflow, TransferInvalid, BusinessKeyConflict (the target already has an
    open case with the key).
    """
    compiled = ctx.registry.compiled(case.workflow_name, case.workflow_version)
    target_d = ctx.registry.get(transfer.to_workflow)
    target = ctx.registry.compiled(target_d.name, target_d.version)
    _check_fits(transfer, case, target_d)
    applied = compiled.apply(
        case_id=case.id,
        state=case.state,
        previous_state=case.previous_state,
        event=transfer.event,
        payload=payload,
        record=case.record,
        roles=facts.roles,
        now=now,
    )
    record = _mapped_record(
        transfer, compiled.definition, target, applied.record, payload, case.id, now
    )
    carried = _clock_rows(tx.clock_timers_of(case.id), transfer)
    target_id = str(uuid.uuid4())
    link_out = {
        "kind": CaseLinkKind.TRANSFER.value,
        "to_case": target_id,
        "to_workflow": target_d.name,
        "to_version": target_d.version,
    }
    out_facts = HistoryFacts(
        facts.actor,
        facts.roles,
        {**payload, LINK_KEY: link_out},
        facts.idempotency_key,
        client=facts.client,
    )
    source_view = commit_applied(
        tx,
        compiled,
        case,
        applied,
        event=transfer.event,
        facts=out_facts,
        now=now,
        outcome=HistoryOutcome.TRANSFERRED_OUT,
    )
    assert source_view is not None
    closed = tx.get_case(case.id)
    assert closed is not None
    link_in = {
        "kind": CaseLinkKind.TRANSFER.value,
        "from_case": case.id,
        "from_workflow": case.workflow_name,
        "from_version": case.workflow_version,
        "from_seq": closed.version,
        "from_hash": closed.last_hash,
    }
    in_facts = HistoryFacts(
        facts.actor, facts.roles, {LINK_KEY: link_in}, None, client=facts.client
    )
    open_case(
        tx,
        target,
        case_id=target_id,
        record=record,
        facts=in_facts,
        now=now,
        entry=transfer.entry,
        event=TRANSFER_IN_EVENT,
        outcome=HistoryOutcome.TRANSFERRED_IN,
    )
    _carry_clocks(tx, target_d, target_id, transfer, carried, record, now)
    opened = tx.get_case(target_id)  # the link names the opening row
    assert opened is not None
    carry_work_items(tx, case, target, target_id, transfer, facts, now)
    tx.insert_case_link(
        CaseLinkRecord(
            CaseLinkKind.TRANSFER,
            case.id,
            closed.version,
            closed.last_hash,
            target_id,
            opened.version,
            opened.last_hash,
            facts.actor,
            now,
        )
    )
    now_open = tx.get_case(target_id)
    assert now_open is not None
    target_view = case_view(
        now_open, [timer_view(t) for t in tx.live_timers_of(target_id)], tx.items_of(target_id)
    )
    return TransferResult(source_view, target_view)


def carry_work_items(
    tx: StoreTransaction,
    source: CaseRecord,
    target: CompiledWorkflow,
    target_id: str,
    transfer: Transfer,
    facts: HistoryFacts,
    now: datetime,
) -> None:
    """Carry the source case's open items of the types under the transfer's ``items:``
    to the target case (same transaction, after the target case and its clocks exist,
    before the link row): each keeps its id, data (checked against the target type's
    schema) and ``opened_at``, takes the mapped type and state, and starts its history in
    the target with one row (event ``@transfer_in``, outcome ``item_created``) whose
    ``@link`` names the source case and item; its item timers and clocks are armed for
    the target state as if it had just entered it. Closed items, items of types not
    listed and items whose state has no mapping stay with the closed source case.

    Raises PayloadInvalid (an item's data against the target type's schema, with its
    JSON path and the item id), TransferInvalid (more items than the target type allows).
    """
    if not transfer.items:
        return
    case = tx.get_case(target_id)
    assert case is not None
    counts: dict[str, int] = {}
    for item in tx.items_of(source.id):
        carry = next((c for c in transfer.items if c.source_type == item.type), None)
        if carry is None or item.closed_at is not None:
            continue
        cit = target.item_types[carry.target_type]  # _check_fits
        it = cit.item_type
        state = carry.target_state(item.state)
        if state is None or state not in it.states:
            continue
        counts[it.name] = counts.get(it.name, 0) + 1
        if counts[it.name] > it.max_items:
            raise TransferInvalid(
                case_id=source.id,
                workflow=source.workflow_name,
                to_workflow=target.definition.name,
                problem=f"more than {it.max_items} {it.name} items to carry (max {it.max_items})",
            )
        what = f"data of item {item.item_id} carried as a {it.name} item"
        try:
            cit.data_check.validate(item.data, case_id=source.id)
        except PayloadInvalid as exc:
            raise PayloadInvalid(
                what=what, json_path=exc.json_path, problem=exc.problem, case_id=source.id
            ) from None
        link = {
            "kind": CaseLinkKind.TRANSFER.value,
            "from_case": source.id,
            "from_item": item.item_id,
            "from_type": item.type,
            "from_state": item.state,
        }
        row_facts = HistoryFacts(
            facts.actor, facts.roles, {LINK_KEY: link}, None, client=facts.client
        )
        seq = case.version + 1
        carried = ItemRecord(
            target_id,
            item.item_id,
            target.definition.name,
            it.name,
            state,
            dict(item.data),
            1,
            item.opened_at,
            now,
            now if it.states[state].final else None,
            seq,
            seq,
        )
        case = append_item_row(
            tx,
            target,
            case,
            event=TRANSFER_IN_EVENT,
            outcome=HistoryOutcome.ITEM_CREATED,
            facts=row_facts,
            now=now,
            item=(item.item_id, None, state),
        )
        tx.insert_item(carried)
        move_item_timers(tx, target, case, it, None, carried, now)


_LIVE = (TimerStatus.PENDING, TimerStatus.PAUSED)


def _clock_rows(rows: Sequence[TimerRecord], transfer: Transfer) -> dict[str, TimerRecord]:
    """target clock -> the source row it carries: the live row of the source clock, else
    its latest passed (overdue) one; clocks not running carry nothing."""
    out: dict[str, TimerRecord] = {}
    for src, dst in transfer.clocks:
        mine = [r for r in rows if r.name == src]
        live = [r for r in mine if r.status in _LIVE]
        overdue = [r for r in mine if r.status == TimerStatus.OVERDUE]
        if live:
            out[dst] = live[-1]
        elif overdue:
            out[dst] = max(overdue, key=lambda r: r.fired_at or r.created_at)
    return out


def _carry_clocks(
    tx: StoreTransaction,
    d: WorkflowDefinition,
    case_id: str,
    transfer: Transfer,
    carried: Mapping[str, TimerRecord],
    record: Mapping[str, Any],
    now: datetime,
) -> None:
    """Replace whatever the target's own starts did to each carried clock by a row due
    when the source's was: pending at its due instant (a passed one fires at once in the
    target), a paused one resumed with the time it had left unless the entry is a hold."""
    if not carried:
        return
    existing = tx.clock_timers_of(case_id)
    tx.end_clock_timers([r.id for r in existing if r.name in carried and r.id is not None])
    entry = d.states[transfer.entry]
    rows = []
    for name, src in carried.items():
        clock = d.clock(name)
        assert clock is not None  # _check_fits
        due = src.due_at
        status = TimerStatus.PENDING
        paused_at = paused_due_at = None
        remaining = None
        if src.status == TimerStatus.PAUSED and src.paused_due_at and src.paused_at:
            if entry.hold and clock.pausable:
                status, due = TimerStatus.PAUSED, None
                paused_at, paused_due_at = src.paused_at, src.paused_due_at
                remaining = src.remaining_seconds
            else:
                due = resume_due(
                    clock.as_timer(),
                    due_at=src.paused_due_at,
                    paused_at=src.paused_at,
                    resumed_at=now,
                    definition=d,
                    case=record,
                )
        rows.append(
            TimerRecord(
                None,
                case_id,
                name,
                clock.event,
                entry.name,
                1,
                due,
                status,
                clock.recurring,
                clock.pausable,
                remaining,
                now,
                paused_at=paused_at,
                paused_due_at=paused_due_at,
                scope=TimerScope.CLOCK,
            )
        )
    tx.insert_timers(rows)


# -- reopening --------------------------------------------------------------------------


def choose_reopening(d: WorkflowDefinition, case: CaseRecord, event: str | None) -> Reopening:
    """The reopening to use: ``event``'s, or the only one declared from the case's state.

    Raises ReopenDenied (``not_closed``, ``wrong_state``)."""
    _require_closed(case, event)
    if event is not None:
        found = d.reopening(event)
        if found is None:
            raise ReopenDenied(
                case_id=case.id,
                state=case.state,
                event=event,
                reason=RejectionReason.WRONG_STATE.value,
                detail=f"{event!r} is not a reopening of workflow {d.name!r}",
                allowed=[r.event for r in d.reopenings if case.state in r.sources],
            )
        return found
    choices = [r for r in d.reopenings if case.state in r.sources]
    if len(choices) != 1:
        raise ReopenDenied(
            case_id=case.id,
            state=case.state,
            event=None,
            reason=RejectionReason.WRONG_STATE.value,
            detail=(
                f"no reopening is declared from final state {case.state!r}"
                if not choices
                else "several reopenings are declared from this state: name the event"
            ),
            allowed=[r.event for r in choices],
        )
    return choices[0]


def _require_closed(case: CaseRecord, event: str | None) -> None:
    if case.closed_at is None:
        raise ReopenDenied(
            case_id=case.id,
            state=case.state,
            event=event,
            reason="not_closed",
            detail="the case is open: only a closed case can be reopened",
        )


def check_reopen(
    d: WorkflowDefinition,
    case: CaseRecord,
    reopening: Reopening,
    roles: Sequence[str],
    payload: Mapping[str, Any],
    now: datetime,
) -> None:
    """Refuse a reopening that is not allowed now, saying why (the guard, the payload
    and the record changes are the machine's, next). Raises ReopenDenied."""
    event = reopening.event
    _require_closed(case, event)

    def denied(reason: str, detail: str, allowed: Sequence[str] = ()) -> ReopenDenied:
        return ReopenDenied(
            case_id=case.id,
            state=case.state,
            event=event,
            reason=reason,
            detail=detail,
            allowed=allowed,
        )

    if case.state not in reopening.sources:
        raise denied(
            RejectionReason.WRONG_STATE.value,
            f"{event!r} reopens a case closed in one of: {', '.join(reopening.sources)}",
            reopening.sources,
        )
    if not any(r in reopening.roles for r in roles):
        raise denied(
            RejectionReason.ROLE_MISSING.value,
            f"{event!r} needs one of the roles: {', '.join(reopening.roles) or 'none declared'}",
            reopening.roles,
        )
    if reopening.within is None:
        return
    closes = window_closes(d, case, reopening, payload, now)
    if now > closes:
        of = reopening.within_of or "the closure"
        raise denied(
            "window_passed",
            f"the reopening window ({reopening.within.text} after {of}) has passed",
        )


def window_closes(
    d: WorkflowDefinition,
    case: CaseRecord,
    reopening: Reopening,
    payload: Mapping[str, Any],
    now: datetime,
) -> datetime:
    """The last instant ``reopening`` is allowed for ``case``. Raises ReopenDenied
    (``window_unknown``) when the instant it counts from is not in the record."""
    assert reopening.within is not None
    tz = zone(timezone_of(d, case.record))
    anchor: datetime | None = case.closed_at
    if reopening.within_of is not None:
        try:
            value = compile_expression(reopening.within_of).evaluate(
                case=case.record, event=payload, params=d.parameters, now=now
            )
            anchor = parse_at_value(value, tz, timer_name=reopening.event)
        except ExpressionError:
            anchor = None
        if anchor is None:
            raise ReopenDenied(
                case_id=case.id,
                state=case.state,
                event=reopening.event,
                reason="window_unknown",
                detail=f"the window counts from {reopening.within_of}, which has no instant",
            )
    assert anchor is not None
    return add_duration(anchor, reopening.within, tz)


# -- audit ------------------------------------------------------------------------------


def check_links(
    tx: StoreTransaction, links: Sequence[CaseLinkRecord]
) -> tuple[str, int, str] | None:
    """(case id, seq, reason) of the first link its two history rows do not confirm.

    The source's row at ``source_seq`` must have the link's hash and name the target
    under ``@link``; the target's row at ``target_seq`` likewise, and it must carry the
    source row's hash. (Each row's own hash is checked by the chain walk.)
    """
    rows: dict[str, dict[int, Any]] = {}

    def row(case_id: str, seq: int) -> Any:
        if case_id not in rows:
            rows[case_id] = {h.seq: h for h in tx.history(case_id)}
        return rows[case_id].get(seq)

    for link in links:
        src = row(link.source_case_id, link.source_seq)
        dst = row(link.target_case_id, link.target_seq)
        if src is None or src.hash != link.source_hash:
            return link.source_case_id, link.source_seq, "link_source_mismatch"
        out = src.payload.get(LINK_KEY) if isinstance(src.payload, dict) else None
        if not isinstance(out, dict) or out.get("to_case") != link.target_case_id:
            return link.source_case_id, link.source_seq, "link_source_mismatch"
        if dst is None or dst.hash != link.target_hash:
            return link.target_case_id, link.target_seq, "link_target_mismatch"
        back = dst.payload.get(LINK_KEY) if isinstance(dst.payload, dict) else None
        if (
            not isinstance(back, dict)
            or back.get("from_case") != link.source_case_id
            or back.get("from_hash") != link.source_hash
        ):
            return link.target_case_id, link.target_seq, "link_target_mismatch"
    return None
