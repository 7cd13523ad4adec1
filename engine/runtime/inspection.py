"""Read-only questions about cases: which events are allowed now; does the audit verify."""

from __future__ import annotations

from datetime import datetime

from engine.errors import CaseNotFound
from engine.runtime.audit import GENESIS, record_hash, row_hash
from engine.runtime.machine import CompiledWorkflow
from engine.runtime.views import AuditReport, BrokenLink, EventOption
from engine.store.interface import CaseStore
from engine.store.records import CaseRecord, RejectionReason


def allowed_events(
    compiled: CompiledWorkflow, case: CaseRecord, roles: frozenset[str], now: datetime
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
            ok, why = compiled.check_guard(t, record=case.record, now=now)
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


def verify_audit(store: CaseStore, case_id: str | None) -> AuditReport:
    """Walk each case's hash chain; the first broken link (by case id, seq) is reported."""
    with store.read() as tx:
        heads = tx.case_heads(case_id)
        if case_id is not None and case_id not in heads:
            raise CaseNotFound(case_id)
        cases = 0
        rows = 0
        first: BrokenLink | None = None
        current: str | None = None
        expect_seq = 1
        prev = GENESIS
        seen: set[str] = set()

        last_record_hash: str | None = None

        def close_case(cid: str, last_seq: int, last_hash: str) -> BrokenLink | None:
            head = heads.get(cid)
            if head is None:
                return BrokenLink(cid, last_seq, "orphan_history")
            if (head.version, head.last_hash) != (last_seq, last_hash):
                return BrokenLink(cid, last_seq, "head_mismatch")
            if last_record_hash is not None and record_hash(head.record) != last_record_hash:
                return BrokenLink(cid, last_seq, "record_mismatch")
            return None

        broken_case: str | None = None
        for row in tx.history_batches(case_id):
            cid = row.case_id
            if cid != current:
                if current is not None and broken_case != current and first is None:
                    first = close_case(current, expect_seq - 1, prev)
                current, expect_seq, prev = cid, 1, GENESIS
                last_record_hash = None
                cases += 1
                seen.add(cid)
            rows += 1
            if first is not None or broken_case == cid:
                continue
            reason = None
            if row.seq != expect_seq:
                reason = "seq_gap"
            elif row.prev_hash != prev:
                reason = "prev_hash_mismatch"
            elif row_hash(row.hashed_fields()) != row.hash:
                reason = "hash_mismatch"
            if reason is not None:
                first = BrokenLink(cid, row.seq, reason)
                broken_case = cid
                continue
            expect_seq += 1
            prev = row.hash
            last_record_hash = row.record_hash
        if current is not None and first is None and broken_case != current:
            first = close_case(current, expect_seq - 1, prev)
        if first is None:
            for cid in sorted(set(heads) - seen):
                first = BrokenLink(cid, 1, "missing_history")
                cases += 1
                break
    return AuditReport(ok=first is None, cases_checked=cases, rows_checked=rows, first_broken=first)
