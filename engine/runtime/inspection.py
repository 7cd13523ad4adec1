"""Read-only questions about cases: which events are allowed now (the audit walk is in
:mod:`engine.runtime.audit_trail`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from engine.runtime.machine import CompiledWorkflow
from engine.runtime.views import EventOption
from engine.store.records import CaseRecord, RejectionReason


def allowed_events(
    compiled: CompiledWorkflow,
    case: CaseRecord,
    roles: frozenset[str],
    now: datetime,
    *,
    items: Mapping[str, Any] | None = None,
) -> list[EventOption]:
    """Every event of the workflow, allowed now or with the reason it is not."""
    state = case.state
    out: list[EventOption] = []
    for event in compiled.definition.events:
        cands = compiled.candidates(state, event)
        if not cands:
            sources = sorted(
                {t.source for t in compiled.definition.transitions if t.event == event}
            )
            out.append(
                EventOption(
                    event,
                    False,
                    RejectionReason.WRONG_STATE,
                    f"accepted in: {', '.join(sources)}",
                    (),
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
        reason: str | None = None
        detail: str | None = None
        allowed = False
        for t in mine:
            if t.returns_to_previous and case.previous_state is None:
                reason, detail = RejectionReason.WRONG_STATE, "no previous state to return to"
                continue
            ok, why = compiled.check_guard(t, record=case.record, now=now, items=items)
            if ok:
                allowed = True
                break
            if reason is None or why == RejectionReason.GUARD_FALSE:
                reason, detail = why, f"guard: {t.guard}"
        if allowed:
            out.append(EventOption(event, True, None, None, may_send))
        else:
            out.append(EventOption(event, False, reason, detail, may_send))
    return out
