"""Moving running cases to another version of their workflow, by a checked plan.

:func:`dry_run` reports, per v1 state, how many cases would move where and
what would change, and which cases could not move and why; :func:`migrate`
moves them, a batch of cases per transaction (``batch=1``: one transaction per
case). Each case's move is complete in its transaction: the case (its workflow
version, state, record), its history row (event ``@migrate``, outcome
``migrated``, hash-chained like every other row, so ``audit verify`` covers it),
its business keys and its timers and clocks (:class:`TimerPolicy`). A case
that cannot move (its state's ``when`` is false or fails, a ``set`` expression
fails, the moved record breaks the v2 schema, a clock's anchor is missing, a
business key another open case holds, an item v2 cannot place) is listed with
why and left untouched.

Work items (``items:`` of the plan) move with their case in the same transaction:
each takes its v2 type and state (unmapped: unchanged, when v2 declares them), its
data is checked against the v2 type's schema, and its armed item timers and item
clocks follow the plan's ``timers:`` and ``clocks:`` policies by name (default:
recompute a timer the item's v2 state has, keep a clock its v2 type runs there,
cancel the rest); v2 timers and clocks the item did not have are armed from its
state's entry. No item history row is written: the case's ``@migrate`` row lists
the items whose type or state changed.

Resumable without bookkeeping: the cases still on ``from_version`` are the work
left, so a run that was interrupted (or that left cases behind) is run again.
No actions are queued: a migration is not an event, and the case does not
enter its state anew (``state_entry_seq``, hence the time in state, stays).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from engine.definitions.expressions import ExpressionError, compile_expression
from engine.definitions.items import ItemType
from engine.definitions.migration_plan import MigrationPlan, TimerPolicy
from engine.definitions.model import State, Timer, TimerKind, WorkflowDefinition
from engine.errors import ConcurrencyConflict, EngineError, PayloadInvalid
from engine.runtime.audit import head_hash
from engine.runtime.audit_trail import append_access
from engine.runtime.business_keys import BusinessKeyConflict, key_records
from engine.runtime.clocks import ClockOverdue, anchor_instant, overdue_since
from engine.runtime.context import EngineContext
from engine.runtime.convert import item_map
from engine.runtime.json_policy import problem_of
from engine.runtime.machine import CompiledWorkflow, _plain
from engine.runtime.timers import first_due
from engine.runtime.transact import HistoryFacts, _with_clocks, history_record
from engine.store.interface import StoreTransaction
from engine.store.records import (
    CaseQuery,
    CaseRecord,
    HistoryOutcome,
    HistoryRecord,
    ItemRecord,
    TimerRecord,
    TimerScope,
    TimerStatus,
)
from engine.timing.calendar import add_duration, zone
from engine.timing.due import timezone_of

__all__ = ["CannotMove", "MigrationReport", "StateReport", "dry_run", "migrate"]

MIGRATE_EVENT = "@migrate"
_MAX_STEPS = 100_000  # cadence points stepped over at most for a recomputed `every` timer


@dataclass(frozen=True, slots=True)
class CannotMove:
    """A case the plan could not move, and why (never its data)."""

    case_id: str
    state: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "state": self.state, "reason": self.reason}


@dataclass
class StateReport:
    """The cases of one v1 state: how many, where they go, what changes."""

    source: str
    target: str
    cases: int = 0
    movable: int = 0
    cannot_move: int = 0
    timers: dict[str, dict[str, int]] = field(default_factory=dict)  # name -> policy -> cases
    clocks: dict[str, dict[str, int]] = field(default_factory=dict)
    armed: dict[str, int] = field(default_factory=dict)  # new v2 timers armed -> cases
    items: dict[str, int] = field(default_factory=dict)  # "v1 type.state -> v2 ..." -> items

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "from_state": self.source,
            "to_state": self.target,
            "cases": self.cases,
            "movable": self.movable,
            "cannot_move": self.cannot_move,
            "timers": self.timers,
            "clocks": self.clocks,
            "armed": self.armed,
        }
        if self.items:  # only when the cases hold work items
            out["items"] = self.items
        return out


@dataclass
class MigrationReport:
    """What a dry run found, or what a run did."""

    workflow: str
    from_version: int
    to_version: int
    dry_run: bool
    states: dict[str, StateReport]
    record_set: tuple[str, ...]
    record_removed: tuple[str, ...]
    moved: int = 0  # moved by this run (a dry run: would move)
    already: int = 0  # open cases already on to_version (moved before, or opened on it)
    other_versions: int = 0  # open cases on neither version: not this plan's
    refused: list[CannotMove] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "dry_run": self.dry_run,
            "moved" if not self.dry_run else "would_move": self.moved,
            "already_on_to_version": self.already,
            "on_other_versions": self.other_versions,
            "record": {"set": list(self.record_set), "removed": list(self.record_removed)},
            "states": [s.to_dict() for s in self.states.values()],
            "cannot_move": [c.to_dict() for c in self.refused],
        }


Progress = Callable[[int, int], None]  # (cases examined so far, open cases of the workflow)


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass
class _Move:
    after: CaseRecord
    history: HistoryRecord
    cancel: list[int]
    end_clocks: list[int]
    insert: list[TimerRecord]
    timers: dict[str, str]  # name -> policy applied
    clocks: dict[str, str]
    armed: list[str]
    items: list[tuple[ItemRecord, ItemRecord]] = field(default_factory=list)  # (before, after)
    item_moves: list[str] = field(default_factory=list)  # "type.state -> type.state" per item


@dataclass
class _Planner:
    """Computes one case's move (pure but for reading its history row when needed)."""

    ctx: EngineContext
    plan: MigrationPlan
    v1: WorkflowDefinition
    v2: WorkflowDefinition
    c2: CompiledWorkflow
    actor: str

    def move(
        self, tx: StoreTransaction, case: CaseRecord, rows: list[TimerRecord], now: datetime
    ) -> _Move:
        """The case's move; raises _Refused (why it cannot move)."""
        try:
            return self._move(tx, case, rows, now)
        except PayloadInvalid as exc:  # a deadline the v2 rules cannot place
            raise _Refused(f"{exc.json_path}: {exc.problem}") from None

    def _move(
        self, tx: StoreTransaction, case: CaseRecord, rows: list[TimerRecord], now: datetime
    ) -> _Move:
        plan, v2 = self.plan, self.v2
        step = plan.states[case.state]
        if step.when is not None:
            try:
                ok = compile_expression(step.when).evaluate(
                    case=case.record, event={}, params=v2.parameters, now=now
                )
            except ExpressionError as exc:
                raise _Refused(f"states.{case.state}.when could not be evaluated: {exc}") from None
            if ok is not True:
                raise _Refused(f"states.{case.state}.when is false")
        record = self._record(case, now)
        target = v2.states[step.target]
        prev = case.previous_state
        if prev is not None:
            moved = plan.states.get(prev)
            prev = moved.target if moved is not None else (prev if prev in v2.states else None)
        cancel: list[int] = []
        end_clocks: list[int] = []
        insert: list[TimerRecord] = []
        applied_t: dict[str, str] = {}
        applied_c: dict[str, str] = {}
        armed: list[str] = []
        entry: list[datetime] = []  # the state entry instant, read once when needed

        def entered_at() -> datetime:
            if not entry:
                entry.append(_entry_instant(tx, case))
            return entry[0]

        v1_names = {t.name for t in self.v1.states[case.state].timers}
        target_timers = {t.name: t for t in target.timers}
        state_rows = [r for r in rows if r.scope == TimerScope.STATE]
        for r in state_rows:
            assert r.id is not None
            if r.status == TimerStatus.PAUSED:  # the previous state's, waiting for the return
                policy = plan.timers.get(r.name, TimerPolicy.KEEP)
                if policy is TimerPolicy.CANCEL or prev is None:
                    cancel.append(r.id)
                    applied_t[r.name] = TimerPolicy.CANCEL.value
                elif prev != r.state:
                    cancel.append(r.id)
                    insert.append(replace(r, id=None, state=prev))
                    applied_t[r.name] = TimerPolicy.KEEP.value
                continue
            policy = plan.timer_policy(r.name, r.name in target_timers)
            applied_t[r.name] = policy.value
            if policy is TimerPolicy.KEEP:
                if r.state != target.name:
                    cancel.append(r.id)
                    insert.append(replace(r, id=None, state=target.name))
                continue
            cancel.append(r.id)
            if policy is TimerPolicy.RECOMPUTE and r.name in target_timers:
                due = self._recompute(target_timers[r.name], r, record, now, case.id)
                if due is not None:
                    insert.append(_timer_row(case, target, target_timers[r.name], due, now))
        for t in target.timers:
            if t.name in v1_names:
                continue  # v1 had it: its row (or its absence: fired) decided above
            due = first_due(t, entered_at=entered_at(), definition=v2, case=record, case_id=case.id)
            if due is not None:
                insert.append(_timer_row(case, target, t, due, now))
                armed.append(t.name)
        clock_rows = [r for r in rows if r.scope == TimerScope.CLOCK]
        before_overdue = overdue_since(clock_rows)
        remaining = list(clock_rows)
        by_name: dict[str, list[TimerRecord]] = {}
        for r in clock_rows:
            by_name.setdefault(r.name, []).append(r)
        for name, crows in by_name.items():
            clock2 = v2.clock(name)
            policy = plan.clock_policy(name, clock2 is not None)
            applied_c[name] = policy.value
            if policy is TimerPolicy.KEEP:
                continue
            if policy is TimerPolicy.CANCEL or clock2 is None:
                end_clocks.extend(r.id for r in crows if r.id is not None)
                remaining = [r for r in remaining if r.name != name]
                continue
            running = [r for r in crows if r.status == TimerStatus.PENDING]
            overdue = [r for r in crows if r.status == TimerStatus.OVERDUE]
            basis = (
                running[0]
                if running
                else (
                    overdue[-1]
                    if overdue and not any(r.status == TimerStatus.PAUSED for r in crows)
                    else None
                )
            )
            if basis is None:
                continue  # paused: resumes with the time it had left
            try:
                start = anchor_instant(clock2, v2, record, basis.created_at, case.id)
                due = first_due(clock2.as_timer(), entered_at=start, definition=v2, case=record)
            except PayloadInvalid as exc:
                raise _Refused(f"clock {name!r}: {exc.json_path}: {exc.problem}") from None
            if due is None:  # pragma: no cover - clocks have no `at`
                continue
            if basis.status == TimerStatus.OVERDUE and due <= now:
                continue  # still overdue under v2: it fired once, it does not fire again
            end_clocks.extend(r.id for r in [*running, *overdue] if r.id is not None)
            remaining = [r for r in remaining if r not in running and r not in overdue]
            insert.append(
                replace(
                    basis,
                    id=None,
                    due_at=due,
                    status=TimerStatus.PENDING,
                    fired_at=None,
                    attempts=0,
                    last_error=None,
                    event=clock2.event,
                    state=target.name,
                )
            )
        overdue_after = (
            _with_clocks(case.overdue_since, ClockOverdue(before_overdue, overdue_since(remaining)))
            if end_clocks
            else case.overdue_since
        )
        payload: dict[str, Any] = {
            "plan": plan.content_hash[:16],
            "from_version": plan.from_version,
            "to_version": plan.to_version,
        }
        if applied_t:
            payload["timers"] = applied_t
        if applied_c:
            payload["clocks"] = applied_c
        if armed:
            payload["armed"] = armed
        items = self._items(tx, case, record, rows, now, entered_at)
        if items.changed:
            payload["items"] = items.changed
        if items.timers:
            payload["item_timers"] = items.timers
        cancel.extend(items.cancel)
        insert.extend(items.insert)
        seq = case.version + 1
        hist = history_record(
            case_id=case.id,
            seq=seq,
            event=MIGRATE_EVENT,
            from_state=case.state,
            to_state=target.name,
            outcome=HistoryOutcome.MIGRATED,
            workflow_version=v2.version,
            facts=HistoryFacts(self.actor, (), payload, None),
            now=now,
            prev_hash=case.last_hash,
            record=record,
            head=head_hash(
                workflow_name=case.workflow_name,
                workflow_version=v2.version,
                state=target.name,
                phase=target.phase.value,
                previous_state=prev,
                state_entry_seq=case.state_entry_seq,
                opened_at=case.opened_at,
                closed_at=None,
            ),
        )
        after = replace(
            case,
            workflow_version=v2.version,
            state=target.name,
            phase=target.phase.value,
            record=record,
            version=seq,
            previous_state=prev,
            last_hash=hist.hash,
            overdue_since=overdue_after,
            updated_at=now,
        )
        return _Move(
            after,
            hist,
            cancel,
            end_clocks,
            insert,
            applied_t,
            applied_c,
            armed,
            items.pairs,
            items.moves,
        )

    def _items(
        self,
        tx: StoreTransaction,
        case: CaseRecord,
        record: Mapping[str, Any],
        rows: list[TimerRecord],
        now: datetime,
        entered_at: Callable[[], datetime],
    ) -> _ItemsMove:
        """The case's items under v2 (see the module docstring); raises _Refused."""
        out = _ItemsMove()
        if not self.v1.item_types:
            return out
        history: dict[int, datetime] = {}

        def entry_of(item: ItemRecord) -> datetime:
            if not history:
                history.update({h.seq: h.recorded_at for h in tx.history(case.id)})
            return history.get(item.state_entry_seq, entered_at())

        v2 = self.v2
        for item in tx.items_of(case.id):
            t2, s2 = self.plan.item_place(item.type, item.state)
            cit = self.c2.item_types.get(t2)
            where = f"item {item.item_id}"
            if cit is None:
                raise _Refused(
                    f"{where}: item type {item.type!r} is not declared by v{v2.version} and "
                    "the plan's items: does not map it"
                )
            it2 = cit.item_type
            old = self.v1.item_types[item.type].states.get(item.state)
            if s2 not in it2.states:
                raise _Refused(
                    f"{where}: state {s2!r} is not a state of {t2!r} in v{v2.version} "
                    f"(map it under items.{item.type}.states)"
                )
            if old is not None and old.final != it2.states[s2].final:
                raise _Refused(
                    f"{where}: {item.type}.{item.state} -> {t2}.{s2} would "
                    f"{'reopen' if old.final else 'close'} it"
                )
            try:
                cit.data_check.validate(item.data, case_id=case.id)
            except PayloadInvalid as exc:
                raise _Refused(
                    f"{where}: its data breaks the v{v2.version} {t2} schema at "
                    f"{exc.json_path}: {exc.problem}"
                ) from None
            after = item
            if (t2, s2) != (item.type, item.state):
                after = replace(item, type=t2, state=s2, version=item.version + 1, updated_at=now)
                out.pairs.append((item, after))
                out.changed[item.item_id] = f"{t2}.{s2}"
            out.moves.append(f"{item.type}.{item.state} -> {t2}.{s2}")
            if item.closed_at is None:
                mine = [r for r in rows if r.item_id == item.item_id]
                self._item_timers(case, after, it2, mine, record, now, entry_of(item), out)
        return out

    def _item_timers(
        self,
        case: CaseRecord,
        item: ItemRecord,
        it2: ItemType,
        rows: list[TimerRecord],
        record: Mapping[str, Any],
        now: datetime,
        entered: datetime,
        out: _ItemsMove,
    ) -> None:
        """One open item's armed timers and clocks under v2 (``item``: as after)."""
        seen = item_map(item)
        timers2: dict[str, Timer] = {t.name: t for t in it2.timers_of(item.state)}
        clocks2: dict[str, Timer] = {
            c.name: c.as_timer(item.state) for c in it2.clocks_in(item.state)
        }
        had: set[str] = set()
        for r in rows:
            assert r.id is not None
            clock = r.scope == TimerScope.ITEM_CLOCK
            v2_rule = (clocks2 if clock else timers2).get(r.name)
            policy = (
                self.plan.clock_policy(r.name, v2_rule is not None)
                if clock
                else self.plan.timer_policy(r.name, v2_rule is not None)
            )
            if v2_rule is None:
                policy = TimerPolicy.CANCEL  # nothing of that name runs in the v2 state
            out.timers[r.name] = policy.value
            had.add(r.name)
            if policy is TimerPolicy.KEEP:
                assert v2_rule is not None
                if (r.state, r.event) != (item.state, v2_rule.event):
                    out.cancel.append(r.id)
                    out.insert.append(replace(r, id=None, state=item.state, event=v2_rule.event))
                continue
            out.cancel.append(r.id)
            if policy is TimerPolicy.RECOMPUTE:
                assert v2_rule is not None
                due = first_due(
                    v2_rule,
                    entered_at=r.created_at,
                    definition=self.v2,
                    case=record,
                    case_id=case.id,
                    item=seen,
                )
                if due is not None:
                    out.insert.append(
                        replace(r, id=None, state=item.state, event=v2_rule.event, due_at=due)
                    )
        for scope, rules in ((TimerScope.ITEM, timers2), (TimerScope.ITEM_CLOCK, clocks2)):
            for name, tm in rules.items():
                if name in had:
                    continue
                due = first_due(
                    tm,
                    entered_at=entered,
                    definition=self.v2,
                    case=record,
                    case_id=case.id,
                    item=seen,
                )
                if due is None:
                    continue
                out.timers[name] = "armed"
                out.insert.append(
                    TimerRecord(
                        None,
                        case.id,
                        name,
                        tm.event,
                        item.state,
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

    def _record(self, case: CaseRecord, now: datetime) -> dict[str, Any]:
        computed: list[tuple[str, Any]] = []
        for name, source in self.plan.sets:
            try:
                value = compile_expression(source).evaluate(
                    case=case.record, event={}, params=self.v2.parameters, now=now
                )
            except ExpressionError as exc:
                raise _Refused(f"record.set.{name} could not be evaluated: {exc}") from None
            plain = _plain(value)
            found = problem_of(plain, f"$.{name}")
            if found is not None:
                raise _Refused(f"record.set.{name}: {found[1]}")
            computed.append((name, plain))
        record = dict(case.record)
        for name in self.plan.removes:
            record.pop(name, None)
        record.update(computed)
        record = {**self.c2.defaults, **record}
        try:
            self.c2.case_check.validate(record, case_id=case.id)
        except PayloadInvalid as exc:
            raise _Refused(
                f"the moved record breaks the v{self.v2.version} case schema at "
                f"{exc.json_path}: {exc.problem}"
            ) from None
        return record

    def _recompute(
        self,
        timer: Timer,
        row: TimerRecord,
        record: Mapping[str, Any],
        now: datetime,
        case_id: str,
    ) -> datetime | None:
        """v2's due instant for an armed v1 timer, counted from when that was armed (the
        state's entry; a recurring timer's last firing)."""
        due = first_due(
            timer, entered_at=row.created_at, definition=self.v2, case=record, case_id=case_id
        )
        if due is None or timer.kind is not TimerKind.EVERY or timer.every is None:
            return due
        assert row.due_at is not None
        if row.due_at <= now:  # the v1 cadence point is due: it fires once, now
            return min(due, now) if due <= now else due
        tz = zone(timezone_of(self.v2, record))
        steps = 0
        while due <= now and steps < _MAX_STEPS:  # the v2 cadence from the entry, next point
            due = add_duration(due, timer.every, tz)
            steps += 1
        return due


@dataclass
class _ItemsMove:
    """What a migration does to one case's items."""

    pairs: list[tuple[ItemRecord, ItemRecord]] = field(default_factory=list)
    moves: list[str] = field(default_factory=list)
    changed: dict[str, str] = field(default_factory=dict)  # item id -> "v2 type.state"
    timers: dict[str, str] = field(default_factory=dict)  # item timer/clock -> policy
    cancel: list[int] = field(default_factory=list)
    insert: list[TimerRecord] = field(default_factory=list)


def _timer_row(
    case: CaseRecord, state: State, timer: Timer, due: datetime, now: datetime
) -> TimerRecord:
    return TimerRecord(
        None,
        case.id,
        timer.name,
        timer.event,
        state.name,
        case.state_entry_seq,
        due,
        TimerStatus.PENDING,
        timer.kind == TimerKind.EVERY,
        timer.pausable,
        None,
        now,
    )


def _entry_instant(tx: StoreTransaction, case: CaseRecord) -> datetime:
    """When the case entered its state: its entry's history row (an imported case: the
    ``entered_at`` the import recorded)."""
    for h in tx.history(case.id):
        if h.seq != case.state_entry_seq:
            continue
        if h.outcome == HistoryOutcome.IMPORTED and isinstance(h.payload.get("entered_at"), str):
            return datetime.fromisoformat(h.payload["entered_at"])
        return h.recorded_at
    return case.updated_at  # pragma: no cover - every entry has its history row


def _definitions(
    ctx: EngineContext, plan: MigrationPlan
) -> tuple[WorkflowDefinition, WorkflowDefinition, CompiledWorkflow]:
    v1 = ctx.registry.get(plan.workflow, plan.from_version)
    v2 = ctx.registry.get(plan.workflow, plan.to_version)
    return v1, v2, ctx.registry.compiled(v2.name, v2.version)


def _report(plan: MigrationPlan, dry: bool) -> MigrationReport:
    return MigrationReport(
        workflow=plan.workflow,
        from_version=plan.from_version,
        to_version=plan.to_version,
        dry_run=dry,
        states={s: StateReport(s, m.target) for s, m in plan.states.items()},
        record_set=tuple(n for n, _ in plan.sets),
        record_removed=plan.removes,
    )


def _tally(rep: StateReport, mv: _Move) -> None:
    rep.movable += 1
    for name, pol in mv.timers.items():
        per = rep.timers.setdefault(name, {})
        per[pol] = per.get(pol, 0) + 1
    for name, pol in mv.clocks.items():
        per = rep.clocks.setdefault(name, {})
        per[pol] = per.get(pol, 0) + 1
    for name in mv.armed:
        rep.armed[name] = rep.armed.get(name, 0) + 1
    for what in mv.item_moves:
        rep.items[what] = rep.items.get(what, 0) + 1


def _pages(
    ctx: EngineContext, plan: MigrationPlan, batch: int
) -> tuple[int, Callable[[], list[CaseRecord]]]:
    query = CaseQuery(workflow=plan.workflow, closed=False)
    with ctx.store.read() as tx:
        total = tx.count_cases(query, now=ctx.now(tx))
    after: list[tuple[datetime, str] | None] = [None]

    def next_page() -> list[CaseRecord]:
        with ctx.store.read() as tx:
            page = tx.find_cases(query, now=ctx.now(tx), limit=batch, after=after[0])
        if page:
            after[0] = (page[-1].opened_at, page[-1].id)
        return page

    return total, next_page


def dry_run(
    ctx: EngineContext,
    plan: MigrationPlan,
    *,
    actor: str,
    batch: int = 500,
    progress: Progress | None = None,
) -> MigrationReport:
    """What :func:`migrate` would do now, writing nothing but one access-log row."""
    v1, v2, c2 = _definitions(ctx, plan)
    planner = _Planner(ctx, plan, v1, v2, c2, actor)
    rep = _report(plan, True)
    total, next_page = _pages(ctx, plan, batch)
    seen = 0
    while page := next_page():
        seen += len(page)
        todo = _sort(rep, page, plan)
        with ctx.store.read() as tx:
            timers = tx.live_timers_for([c.id for c in todo])
            now = ctx.now(tx)
            for case in todo:
                st = rep.states[case.state]
                st.cases += 1
                try:
                    mv = planner.move(tx, case, timers.get(case.id, []), now)
                except _Refused as why:
                    st.cannot_move += 1
                    rep.refused.append(CannotMove(case.id, case.state, why.reason))
                    continue
                _tally(st, mv)
                rep.moved += 1
        if progress is not None:
            progress(seen, total)
    _audit(ctx, actor, plan, rep)
    return rep


def _sort(rep: MigrationReport, page: list[CaseRecord], plan: MigrationPlan) -> list[CaseRecord]:
    todo = []
    for c in page:
        if c.workflow_version == plan.from_version:
            todo.append(c)
        elif c.workflow_version == plan.to_version:
            rep.already += 1
        else:
            rep.other_versions += 1
    return todo


def migrate(
    ctx: EngineContext,
    plan: MigrationPlan,
    *,
    actor: str,
    batch: int = 200,
    progress: Progress | None = None,
) -> MigrationReport:
    """Move every open case on ``plan.from_version`` (see the module docstring); ``batch``
    cases per transaction. Raises what the store raises (a batch then rolls back whole;
    run again to resume)."""
    if batch < 1:
        raise EngineError("batch must be at least 1")
    v1, v2, c2 = _definitions(ctx, plan)
    planner = _Planner(ctx, plan, v1, v2, c2, actor)
    rep = _report(plan, False)
    total, next_page = _pages(ctx, plan, batch)
    seen = 0
    same_keys = v1.business_keys == v2.business_keys
    while page := next_page():
        seen += len(page)
        todo = _sort(rep, page, plan)
        with ctx.store.write() as tx:
            now = ctx.now(tx)
            locked = tx.lock_cases([c.id for c in todo])
            timers = tx.live_timers_for([c.id for c in locked])
            cancel: list[int] = []
            end_clocks: list[int] = []
            insert: list[TimerRecord] = []
            moves: list[tuple[CaseRecord, CaseRecord, HistoryRecord]] = []
            for case in locked:
                if case.workflow_version != plan.from_version or case.closed_at is not None:
                    continue  # moved or closed since the page was read
                st = rep.states[case.state]
                st.cases += 1
                try:
                    mv = planner.move(tx, case, timers.get(case.id, []), now)
                    if not same_keys or _keys_changed(v2, case, mv.after):
                        _replace_keys(tx, v2, mv.after)
                except _Refused as why:
                    st.cannot_move += 1
                    rep.refused.append(CannotMove(case.id, case.state, why.reason))
                    continue
                for before, after in mv.items:
                    if not tx.update_item(before, after):  # pragma: no cover - case locked
                        raise ConcurrencyConflict(
                            case_id=case.id,
                            expected_version=case.version,
                            actual_version=-1,
                            state=case.state,
                        )
                cancel.extend(mv.cancel)
                end_clocks.extend(mv.end_clocks)
                insert.extend(mv.insert)
                moves.append((case, mv.after, mv.history))
                _tally(st, mv)
            tx.cancel_timers_by_id(cancel)
            tx.end_clock_timers(end_clocks)
            tx.insert_timers(insert)
            if not tx.migrate_cases(moves):  # pragma: no cover - the cases are locked
                raise ConcurrencyConflict(
                    case_id=moves[0][0].id,
                    expected_version=moves[0][0].version,
                    actual_version=-1,
                    state=moves[0][0].state,
                )
        rep.moved += len(moves)
        if progress is not None:
            progress(seen, total)
    _audit(ctx, actor, plan, rep)
    return rep


def _keys_changed(d: WorkflowDefinition, before: CaseRecord, after: CaseRecord) -> bool:
    return any(before.record.get(k.name) != after.record.get(k.name) for k in d.business_keys)


def _replace_keys(tx: StoreTransaction, d: WorkflowDefinition, after: CaseRecord) -> None:
    """The case's key rows under v2; refuses (before any write) a value another open case
    holds."""
    try:
        rows = key_records(d, after)
    except PayloadInvalid as exc:
        raise _Refused(f"business key at {exc.json_path}: {exc.problem}") from None
    for row in rows:
        if row.unique:
            holder = tx.key_holder(row.workflow_name, row.name, row.value)
            if holder is not None and holder != after.id:
                raise _Refused(
                    str(BusinessKeyConflict(workflow=d.name, key=row.name, holder=holder))
                )
    tx.replace_case_keys(after.id, rows)


def _audit(ctx: EngineContext, actor: str, plan: MigrationPlan, rep: MigrationReport) -> None:
    what = (
        f"migrate{' dry-run' if rep.dry_run else ''} {plan.workflow} "
        f"v{plan.from_version}->v{plan.to_version} plan {plan.content_hash[:12]}: "
        f"{rep.moved} {'would move' if rep.dry_run else 'moved'}, {len(rep.refused)} cannot move"
    )
    with ctx.store.write() as tx:
        append_access(tx, actor=actor, case_id=None, what=what, at=ctx.now(tx))
