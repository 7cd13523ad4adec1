"""Run one case through a workflow in virtual time and record what happened when.

The simulator drives the real :class:`~engine.runtime.engine.Engine` on an
in-memory SQLite database (``sqlite://``: no file, no server) with a
:class:`~engine.clock.ManualClock`, so guards, case records, timers, pauses,
recurrences and catch-up behave exactly as in production. Between steps it
moves the clock to each pending timer's due instant in order and fires it, so
the timeline shows every timer that fired and when.

Timing rule: timers due strictly before a step fire before it; an event at the
very instant a timer is due wins (if it leaves the state, the timer is
cancelled); a ``nothing`` step fires everything due up to and including its
instant.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.clock import ManualClock
from engine.definitions.model import WorkflowDefinition
from engine.errors import EngineError, EventRejected, PayloadInvalid
from engine.simulation.script import ScriptError, ScriptStep, When
from engine.simulation.timeline import (
    ArmedTimer,
    Timeline,
    TimelineEntry,
    TimerChange,
    local_parts,
)
from engine.timing.calendar import add_duration, localize, zone

if TYPE_CHECKING:
    from engine.runtime.engine import Engine
    from engine.runtime.views import ActionContext, HistoryEntry, TimerView

__all__ = [
    "DEFAULT_START",
    "Simulation",
    "open_simulation",
    "parse_start",
    "resolve_workflow",
    "simulate",
]

DEFAULT_START = "2026-01-05T09:00"  # a Monday morning, local time of the workflow
MAX_FIRINGS = 10_000  # per step: a guard against a cadence far shorter than the script
SIM_ACTOR = "analyst"


def resolve_workflow(name_or_path: str | Path) -> Path:
    """A workflow file: a path to YAML, or the name of a bundled workflow."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise ScriptError(None, f"workflow file {str(p)!r} not found")
        return p
    from engine.definitions import default_workflows_dir

    for suffix in (".yaml", ".yml"):
        candidate = default_workflows_dir() / f"{name_or_path}{suffix}"
        if candidate.is_file():
            return candidate
    raise ScriptError(None, f"no workflow file and no bundled workflow named {str(p)!r}")


def parse_start(text: str | datetime | None, timezone: str) -> datetime:
    """The start instant: ISO date/datetime; without an offset it is local time of ``timezone``."""
    if isinstance(text, datetime):
        value = text
    else:
        raw = (text or DEFAULT_START).strip()
        try:
            value = datetime.fromisoformat(raw.replace("z", "Z"))
        except ValueError:
            raise ScriptError(None, "--start must be an ISO date or date-time") from None
    if value.tzinfo is None:
        return localize(value, zone(timezone))
    return value.astimezone(UTC)


class _ActionRecorder:
    """Stands in for the host's actions: records which ran, does nothing else."""

    def __init__(self) -> None:
        self.ran: list[tuple[int, str, str]] = []  # (outbox id, action, event)

    def __call__(self, ctx: ActionContext) -> None:
        self.ran.append((ctx.outbox_id, ctx.action, ctx.event))


@contextmanager
def _memory_engine(
    workflow_file: Path, clock: ManualClock, actions: Mapping[str, Any]
) -> Iterator[Engine]:
    from engine.runtime.engine import Engine

    # sqlite:// is a private in-memory database; the engine's pool hands this
    # thread the same connection every time (SQLAlchemy's SingletonThreadPool).
    engine = Engine.open("sqlite://", workflows=[workflow_file], clock=clock, actions=actions)
    try:
        yield engine
    finally:
        engine.close()


class Simulation:
    """One case in virtual time. Use :func:`simulate` unless you need the engine.

    ``engine`` must run on ``clock``. It may hold other cases (tests replay
    several cases on one database): only this case's pending timers decide
    where the clock goes next.
    """

    def __init__(
        self,
        engine: Engine,
        definition: WorkflowDefinition,
        clock: ManualClock,
        start: datetime,
        *,
        actions_ran: list[tuple[int, str, str]] | None = None,
    ) -> None:
        self.engine = engine
        self._actions_ran = actions_ran if actions_ran is not None else []
        self.definition = definition
        self.clock = clock
        self.start = start
        self.tz = zone(definition.timezone)
        self.case_id: str | None = None
        self.entries: list[TimelineEntry] = []
        self._seen_seq = 0
        self._timers: dict[int, TimerView] = {}
        self._step_time = start
        self._firings = 0

    # -- time ---------------------------------------------------------------------------

    def _instant(self, step: ScriptStep) -> datetime:
        when: When = step.when
        if when.at is not None:
            return when.at.astimezone(UTC)
        if when.day is not None:
            start_local = self.start.astimezone(self.tz)
            day = start_local.date() + timedelta(days=when.day)
            clock = when.clock or start_local.time().replace(tzinfo=None)
            return localize(datetime.combine(day, clock), self.tz)
        if when.after is not None:
            return add_duration(self._step_time, when.after, self.tz)
        return self._step_time

    def day_of(self, instant: datetime) -> int:
        start_day: date = self.start.astimezone(self.tz).date()
        return (instant.astimezone(self.tz).date() - start_day).days

    # -- running ----------------------------------------------------------------------

    def run(self, steps: Sequence[ScriptStep]) -> None:
        for step in steps:
            self.step(step)

    def step(self, step: ScriptStep) -> None:
        at = self._instant(step)
        if at < self.clock.now():
            raise ScriptError(
                step.line, f"{step.when.describe()} is before the previous step or timer firing"
            )
        self._firings = 0
        if step.action == "open":
            self.clock.set(at)
            self._open(step)
        elif step.action == "nothing":
            self._fire_until(at, inclusive=True, line=step.line)
            self.clock.set(at)
            self._note_nothing(step, at)
        else:
            self._fire_until(at, inclusive=False, line=step.line)
            self.clock.set(at)
            if step.action == "item_add":
                self._add_item(step)
            elif step.action == "item_event":
                self._send_item(step)
            else:
                self._send(step)
            self._fire_until(at, inclusive=True, line=step.line)
        self._step_time = at
        if step.expect is not None:
            state = self.state
            if state != step.expect:
                raise ScriptError(
                    step.line, f"expected the case in state {step.expect!r}, it is in {state!r}"
                )
        if step.expect_items:
            states = self.item_states()
            for item_id, expected in step.expect_items.items():
                actual = states.get(item_id)
                if actual is None:
                    raise ScriptError(
                        step.line,
                        f"expected item {item_id!r} in state {expected!r}, the case has no such "
                        f"item (items: {', '.join(states) or 'none'})",
                    )
                if actual != expected:
                    raise ScriptError(
                        step.line,
                        f"expected item {item_id!r} in state {expected!r}, it is in {actual!r}",
                    )

    @property
    def state(self) -> str:
        if self.case_id is None:
            return self.definition.initial
        return self.engine.get(self.case_id).state

    def _open(self, step: ScriptStep) -> None:
        if self.case_id is not None:
            raise ScriptError(step.line, "the case is already open")
        roles = step.roles or self.definition.open_roles or tuple(self.definition.roles)
        try:
            view = self.engine.open_case(
                self.definition.name,
                dict(step.payload),
                actor=step.actor or SIM_ACTOR,
                roles=roles,
            )
        except PayloadInvalid as exc:
            raise ScriptError(
                step.line, f"case record invalid at {exc.json_path}: {exc.problem}"
            ) from None
        self.case_id = view.id
        self._collect(step.line)

    def _roles_for(self, event: str, state: str) -> tuple[str, ...]:
        roles: dict[str, None] = {}
        for t in self.definition.transitions_from(state):
            if t.event == event:
                roles.update(dict.fromkeys(t.roles))
        return tuple(roles)

    def allowed_now(self, roles: Sequence[str] | None = None) -> list[str]:
        assert self.case_id is not None
        every_role = roles if roles is not None else tuple(self.definition.roles)
        return [o.event for o in self.engine.allowed_events(self.case_id, every_role) if o.allowed]

    def _send(self, step: ScriptStep) -> None:
        if self.case_id is None:
            raise ScriptError(step.line, "the case is not open yet")
        event = step.event or ""
        state = self.state
        if event not in self.definition.events:
            raise ScriptError(
                step.line,
                f"unknown event {event!r}: workflow {self.definition.name!r} has no such event",
                allowed=self.allowed_now(),
            )
        roles = step.roles or self._roles_for(event, state)
        try:
            self.engine.send(
                self.case_id, event, dict(step.payload), actor=step.actor or SIM_ACTOR, roles=roles
            )
        except EventRejected as exc:
            raise ScriptError(
                step.line,
                f"event {event!r} rejected in state {state!r} ({exc.reason}: {exc.detail})",
                allowed=self.allowed_now(),
            ) from None
        except PayloadInvalid as exc:
            raise ScriptError(
                step.line,
                f"payload of {event!r} invalid at {exc.json_path}: {exc.problem}",
            ) from None
        self._collect(step.line)

    def item_states(self) -> dict[str, str]:
        """Item id -> item state, for every item of the case."""
        if self.case_id is None:
            return {}
        return {i.id: i.state for i in self.engine.items(self.case_id)}

    def _add_item(self, step: ScriptStep) -> None:
        if self.case_id is None:
            raise ScriptError(step.line, "the case is not open yet")
        name = step.item_type or ""
        item_type = self.definition.item_type(name)
        if item_type is None:
            declared = ", ".join(self.definition.item_types) or "none"
            raise ScriptError(
                step.line,
                f"unknown item type {name!r}: workflow {self.definition.name!r} "
                f"declares {declared}",
            )
        roles = step.roles or item_type.create.roles
        try:
            self.engine.add_item(
                self.case_id,
                name,
                dict(step.payload),
                actor=step.actor or SIM_ACTOR,
                roles=roles,
                item_id=step.item_id,
            )
        except EventRejected as exc:
            raise ScriptError(
                step.line,
                f"adding a {name!r} item rejected in state {self.state!r} "
                f"({exc.reason}: {exc.detail})",
            ) from None
        except PayloadInvalid as exc:
            raise ScriptError(
                step.line,
                f"payload of the new {name!r} item invalid at {exc.json_path}: {exc.problem}",
            ) from None
        except EngineError as exc:  # an item id already taken, ...
            raise ScriptError(step.line, f"adding a {name!r} item failed: {exc}") from None
        self._collect(step.line)

    def _send_item(self, step: ScriptStep) -> None:
        if self.case_id is None:
            raise ScriptError(step.line, "the case is not open yet")
        item_id = step.item_id or ""
        event = step.event or ""
        items = {i.id: i for i in self.engine.items(self.case_id)}
        item = items.get(item_id)
        if item is None:
            raise ScriptError(
                step.line,
                f"no item {item_id!r} in the case (items: {', '.join(items) or 'none'})",
            )
        item_type = self.definition.item_type(item.type)
        roles: tuple[str, ...] = step.roles
        if not roles and item_type is not None:
            found: dict[str, None] = {}
            for t in item_type.transitions_from(item.state):
                if t.event == event:
                    found.update(dict.fromkeys(t.roles))
            roles = tuple(found)
        try:
            self.engine.send_item(
                self.case_id,
                item_id,
                event,
                dict(step.payload),
                actor=step.actor or SIM_ACTOR,
                roles=roles,
            )
        except EventRejected as exc:
            allowed = [
                o.event
                for o in self.engine.allowed_item_events(
                    self.case_id, item_id, tuple(self.definition.roles)
                )
                if o.allowed
            ]
            raise ScriptError(
                step.line,
                f"item event {event!r} rejected for {item_id!r} in item state {item.state!r} "
                f"({exc.reason}: {exc.detail})",
                allowed=allowed,
            ) from None
        except PayloadInvalid as exc:
            raise ScriptError(
                step.line,
                f"payload of item event {event!r} invalid at {exc.json_path}: {exc.problem}",
            ) from None
        self._collect(step.line)

    def _next_due(self) -> datetime | None:
        """The earliest pending due instant of this case (the engine may hold other cases)."""
        dues = [t.due_at for t in self.pending_timers() if t.due_at is not None]
        return min(dues) if dues else None

    def _fire_until(self, limit: datetime, *, inclusive: bool, line: int | None) -> None:
        if self.case_id is None:
            return
        while True:
            due = self._next_due()
            if due is None or due > limit or (due == limit and not inclusive):
                return
            self.clock.set(max(due, self.clock.now()))
            # One at a time, so each history row gets the timer changes it caused;
            # on a shared database this may fire another case's older timer first.
            fired = self.engine.fire_due_timers(limit=1)
            self._collect(None)
            if fired:
                self._firings += 1
                if self._firings > MAX_FIRINGS:
                    raise ScriptError(
                        line, f"more than {MAX_FIRINGS} timer firings before this step"
                    )
            elif self._next_due() == due:  # pragma: no cover - defensive
                raise EngineError("a due timer could not be fired in the simulator")

    def pending_timers(self) -> list[TimerView]:
        """The case's pending timers, soonest first."""
        timers = [t for t in self._timer_snapshot().values() if t.status == "pending"]
        return sorted(timers, key=lambda t: (t.due_at is None, t.due_at, t.id))

    def advance_to(self, instant: datetime, *, line: int | None = None) -> None:
        """Let time pass until ``instant`` (a `nothing` step), firing what comes due."""
        self.step(ScriptStep(line=line, when=When(at=instant), action="nothing"))

    # -- recording ------------------------------------------------------------------

    def _timer_snapshot(self) -> dict[int, TimerView]:
        assert self.case_id is not None
        out: dict[int, TimerView] = {}
        cursor: str | None = None
        while True:
            page = self.engine.timers(case_id=self.case_id, status=None, limit=500, cursor=cursor)
            out.update({t.id: t for t in page.items})
            cursor = page.next_cursor
            if cursor is None:
                return out

    def _collect(self, line: int | None) -> None:
        """Turn new history rows and timer changes into timeline entries."""
        assert self.case_id is not None
        already = len(self._actions_ran)
        self.engine.deliver_outbox(limit=1000)
        ran = tuple(name for _, name, _ in self._actions_ran[already:])
        rows = [h for h in self.engine.history(self.case_id) if h.seq > self._seen_seq]
        after = self._timer_snapshot()
        changes = _timer_changes(self._timers, after)
        self._timers = after
        for i, row in enumerate(rows):
            self._seen_seq = row.seq
            # Timer changes and actions belong to the last row of the batch (one
            # row per call here).
            last = i == len(rows) - 1
            entry = self._entry(row, line, changes if last else _no_changes())
            if last and ran:
                entry = replace(entry, actions=ran)
            self.entries.append(entry)

    def _entry(
        self, row: HistoryEntry, line: int | None, changes: dict[str, list[Any]]
    ) -> TimelineEntry:
        at = row.recorded_at
        if row.timer is not None:
            at = self.clock.now()
        return TimelineEntry(
            kind="timer" if row.timer else ("open" if row.event == "@open" else "event"),
            line=None if row.timer else line,
            day=self.day_of(at),
            at=at.astimezone(UTC),
            local=local_parts(at, self.tz),
            actor=row.actor,
            roles=tuple(row.roles),
            event=row.event,
            from_state=row.from_state,
            to_state=row.to_state,
            outcome=row.outcome,
            timer=row.timer,
            lateness_seconds=row.lateness_seconds,
            skipped_periods=int(row.payload.get("skipped_periods", 0)) if row.timer else 0,
            clock=str(row.payload["clock"]) if row.timer and "clock" in row.payload else None,
            armed=tuple(changes["armed"]),
            cancelled=tuple(changes["cancelled"]),
            paused=tuple(changes["paused"]),
            resumed=tuple(changes["resumed"]),
            item_id=row.item_id,
            item_from=row.item_from,
            item_to=row.item_to,
        )

    def _note_nothing(self, step: ScriptStep, at: datetime) -> None:
        state = self.state
        self.entries.append(
            TimelineEntry(
                kind="nothing",
                line=step.line,
                day=self.day_of(at),
                at=at.astimezone(UTC),
                local=local_parts(at, self.tz),
                actor="-",
                roles=(),
                event="(nothing)",
                from_state=state,
                to_state=state,
                outcome="nothing",
            )
        )

    def timeline(self) -> Timeline:
        pending = []
        for t in sorted(self._timers.values(), key=lambda t: (t.due_at is None, t.due_at, t.id)):
            if t.status in ("pending", "paused"):
                pending.append(self._armed(t))
        return Timeline(
            workflow=self.definition.name,
            version=self.definition.version,
            timezone=self.definition.timezone,
            calendar=_calendar_text(self.definition),
            start=self.start,
            start_local=local_parts(self.start, self.tz),
            case_id=self.case_id,
            final_state=self.state,
            entries=tuple(self.entries),
            pending=tuple(pending),
        )

    def _armed(self, t: TimerView) -> ArmedTimer:
        return ArmedTimer(
            name=t.name,
            event=t.event,
            status=t.status,
            due_at=t.due_at,
            local=local_parts(t.due_at, self.tz) if t.due_at else None,
            day=self.day_of(t.due_at) if t.due_at else None,
            recurring=t.recurring,
            remaining_seconds=t.remaining_seconds,
        )


def _no_changes() -> dict[str, list[Any]]:
    return {"armed": [], "cancelled": [], "paused": [], "resumed": []}


def _timer_changes(
    before: Mapping[int, TimerView], after: Mapping[int, TimerView]
) -> dict[str, list[Any]]:
    changes = _no_changes()
    live = ("pending", "paused")
    for tid, t in after.items():
        old = before.get(tid)
        if old is None and t.status == "pending":
            changes["armed"].append(TimerChange(t.name, t.event, t.due_at, t.recurring))
        elif old is None and t.status == "paused":
            changes["paused"].append(
                TimerChange(t.name, t.event, None, t.recurring, t.remaining_seconds)
            )
        elif old is not None and old.status != t.status:
            if t.status == "cancelled" and old.status in live:
                changes["cancelled"].append(TimerChange(t.name, t.event, old.due_at, t.recurring))
            elif t.status == "paused":
                changes["paused"].append(
                    TimerChange(t.name, t.event, old.due_at, t.recurring, t.remaining_seconds)
                )
            elif t.status == "pending" and old.status == "paused":
                changes["resumed"].append(TimerChange(t.name, t.event, t.due_at, t.recurring))
    # A resume that re-arms as a new row: a new pending timer whose name was paused before.
    paused_before = {t.name for t in before.values() if t.status == "paused"}
    gone = {t.name for t in after.values() if t.status == "cancelled" and t.name in paused_before}
    moved = [c for c in changes["armed"] if c.name in gone]
    for c in moved:
        changes["armed"].remove(c)
        changes["resumed"].append(c)
    changes["cancelled"] = [
        c for c in changes["cancelled"] if c.name not in {m.name for m in moved}
    ]
    return changes


def _calendar_text(d: WorkflowDefinition) -> str:
    cal = d.calendar
    text = cal.country + (f"-{cal.subdivision}" if cal.subdivision else "")
    if cal.extra_holidays:
        text += f" + {len(cal.extra_holidays)} extra holiday(s)"
    return text


@contextmanager
def open_simulation(
    workflow: str | Path, *, start: str | datetime | None = None
) -> Iterator[Simulation]:
    """A :class:`Simulation` of one new case of ``workflow`` (file or bundled name)."""
    path = resolve_workflow(workflow)
    from engine.definitions import load_workflow

    definition = load_workflow(path)
    start_at = parse_start(start, definition.timezone)
    clock = ManualClock(start_at)
    recorder = _ActionRecorder()
    actions = dict.fromkeys(definition.action_names(), recorder)
    with _memory_engine(path, clock, actions) as engine:
        loaded = engine.definition(definition.name, definition.version)
        yield Simulation(engine, loaded, clock, start_at, actions_ran=recorder.ran)


def simulate(
    workflow: str | Path,
    steps: Sequence[ScriptStep],
    *,
    start: str | datetime | None = None,
) -> Timeline:
    """Run ``steps`` for one new case of ``workflow`` (file or bundled name); raises ScriptError."""
    with open_simulation(workflow, start=start) as sim:
        sim.run(steps)
        return sim.timeline()
