"""The format-neutral intermediate representation of a workflow definition.

A :class:`WorkflowDefinition` is what the loader produces from YAML after the
schema and the static checks have passed. Everything here is a frozen
dataclass: the runtime, the scheduler, the simulator, the CLI and the HTTP API
read it and never change it. Nothing in this module knows about YAML, storage
or the ``transitions`` library.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.definitions.clocks import Clock
    from engine.definitions.continuity import Reopening, Transfer
    from engine.definitions.items import ItemType
    from engine.definitions.ownership import Ownership

from engine.definitions.business_keys import BusinessKey
from engine.errors import OpenDenied


class Phase(StrEnum):
    """The six phases every case-management model runs through, in order."""

    INTAKE = "intake"
    ASSESSMENT = "assessment"
    PLANNING = "planning"
    SERVICE_DELIVERY = "service_delivery"
    MONITORING = "monitoring"
    CLOSURE = "closure"


PHASE_ORDER: tuple[Phase, ...] = tuple(Phase)


class Model(StrEnum):
    """The case-management model a workflow implements."""

    BROKERAGE = "brokerage"
    CLINICAL = "clinical"
    STRENGTHS_BASED = "strengths_based"
    INTENSIVE = "intensive"
    TARGETED = "targeted"
    HOSPITAL = "hospital"


class TimerKind(StrEnum):
    """How a timer computes its due instant."""

    AFTER = "after"  # a calendar duration (ISO 8601) after the state was entered
    BUSINESS_DAYS = "business_days"  # N business days of the workflow's calendar
    AT = "at"  # an instant computed from case data by a CEL expression (+ offset)
    EVERY = "every"  # recurring while the case stays in the state


class CatchUp(StrEnum):
    """What a recurring timer does after downtime that spanned several periods."""

    ONCE = "once"  # fire once for all missed periods, then return to the cadence
    ALL = "all"  # fire once for every missed period


PREVIOUS_STATE = "@previous"
"""Transition target meaning "the state the case was in before it entered this one".

Used to resume from an on-hold state back to where the case was."""


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """Where a definition element was written: file, 1-based line and column."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Duration:
    """An ISO 8601 duration split into calendar and clock parts.

    Calendar parts (years, months, days) are applied in the workflow's time
    zone, so ``P1D`` across a daylight-saving change lands on the same local
    wall-clock time; clock parts (hours, minutes, seconds) are exact elapsed
    time.
    """

    text: str
    years: int = 0
    months: int = 0
    weeks: int = 0
    days: int = 0
    hours: int = 0
    minutes: int = 0
    seconds: int = 0

    @property
    def approx_seconds(self) -> float:
        """A rough length for sorting and sanity checks (months = 30 days)."""
        days = self.years * 365 + self.months * 30 + self.weeks * 7 + self.days
        return days * 86400.0 + self.hours * 3600 + self.minutes * 60 + self.seconds


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class Timer:
    """A timer armed when its state is entered and cancelled when it is left.

    Exactly one of ``after``, ``business_days``, ``at`` and ``every`` defines
    when it is due (see :attr:`kind`). When it fires, the engine sends
    ``event`` to the case as actor ``timer``.
    """

    name: str
    state: str
    event: str
    kind: TimerKind
    after: Duration | None = None
    business_days: int | None = None
    at: str | None = None  # CEL: a timestamp, or an RFC 3339 / ISO date string
    offset: Duration | None = None  # added to ``at``
    every: Duration | None = None
    catch_up: CatchUp = CatchUp.ONCE
    pausable: bool = False  # suspended while the case is on hold, resumed with the time left
    description: str = ""
    location: SourceLocation | None = None
    calendar: str | None = None  # a name under the workflow's `calendars`; None: its `calendar`


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """What an action's receiver gets besides the ids (the workflow's ``actions:``)."""

    name: str
    arguments: tuple[tuple[str, str], ...] = ()  # (argument name, CEL source), in order
    include_record: bool = False
    description: str = ""


@dataclass(frozen=True, slots=True)
class Transition:
    """One way to leave (or stay in) ``source`` when ``event`` arrives.

    Several transitions may share an event and a source: they are tried in
    definition order and the first whose guard is true wins. ``target`` None
    is an internal transition: the case stays, its timers keep running.
    """

    source: str
    event: str
    target: str | None
    guard: str | None = None  # CEL over ``case``, ``event`` and ``now``
    roles: tuple[str, ...] = ()  # empty: only the engine itself (timers) may send it
    payload_schema: dict[str, Any] | None = None
    writes: tuple[tuple[str, str], ...] = ()  # (case field, payload field)
    sets: tuple[tuple[str, str], ...] = ()  # (case field, CEL expression)
    actions: tuple[str, ...] = ()
    description: str = ""
    location: SourceLocation | None = None
    case_event: str | None = None  # item transitions only: the event then sent to the case

    @property
    def internal(self) -> bool:
        return self.target is None

    @property
    def returns_to_previous(self) -> bool:
        return self.target == PREVIOUS_STATE


@dataclass(frozen=True, slots=True)
class State:
    name: str
    phase: Phase
    description: str = ""
    final: bool = False
    hold: bool = False  # an on-hold state: pausable timers of the state left are suspended
    on_enter: tuple[str, ...] = ()
    on_exit: tuple[str, ...] = ()
    timers: tuple[Timer, ...] = ()
    location: SourceLocation | None = None
    requires_assignee: bool = False  # no sent event enters it while the case is unassigned


@dataclass(frozen=True, slots=True)
class Calendar:
    """The jurisdiction whose weekends and public holidays business days skip."""

    country: str = "US"
    subdivision: str | None = None
    extra_holidays: tuple[str, ...] = ()  # ISO dates
    categories: tuple[str, ...] = ()  # the `holidays` package's categories; () its default
    weekend: tuple[int, ...] = (5, 6)  # weekday numbers (Monday 0) that are never business days
    removed_holidays: tuple[str, ...] = ()  # ISO dates of holidays the organisation works


@dataclass(frozen=True, slots=True)
class WorkflowDefinition:
    """A checked, immutable workflow: the only thing the runtime executes."""

    name: str
    version: int
    title: str
    description: str
    model: Model
    initial: str
    case_schema: dict[str, Any]
    roles: dict[str, Role]
    states: dict[str, State]  # in definition order
    transitions: tuple[Transition, ...]  # expanded: shared transitions copied per source
    timezone: str = "UTC"
    calendar: Calendar = field(default_factory=Calendar)
    parameters: dict[str, Any] = field(default_factory=dict)  # resolved values, CEL `params`
    action_specs: dict[str, ActionSpec] = field(default_factory=dict)  # the `actions:` map
    calendars: dict[str, Calendar] = field(default_factory=dict)  # named calendars
    clocks: tuple[Clock, ...] = ()  # case clocks (engine/definitions/clocks.py)
    source_path: str = ""
    source_text: str = ""
    content_hash: str = ""  # sha256 of the source text(s), hex
    business_keys: tuple[BusinessKey, ...] = ()  # see engine/definitions/business_keys.py
    open_roles: tuple[str, ...] = ()  # who may open a case; () = any role declared above
    item_types: dict[str, ItemType] = field(default_factory=dict)  # the `items:` map, in order
    ownership: Ownership | None = None  # engine/definitions/ownership.py; None: not declared
    transfers: tuple[Transfer, ...] = ()  # `transfers:` (engine/definitions/continuity.py)
    reopenings: tuple[Reopening, ...] = ()  # `reopen:`

    def check_may_open(self, roles: Iterable[str]) -> None:
        """Raise OpenDenied unless one of ``roles`` may open a case: one of ``open_roles``,
        or of the declared roles when the workflow names none."""
        allowed = self.open_roles or tuple(self.roles)
        if not any(r in allowed for r in roles):
            raise OpenDenied(workflow=self.name, allowed_roles=allowed)

    # -- queries -----------------------------------------------------------------

    @property
    def key(self) -> tuple[str, int]:
        return (self.name, self.version)

    @property
    def final_states(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.states.values() if s.final)

    @property
    def events(self) -> tuple[str, ...]:
        """Every event name, in first-seen order."""
        seen: dict[str, None] = {}
        for t in self.transitions:
            seen.setdefault(t.event, None)
        return tuple(seen)

    def transitions_from(self, state: str) -> tuple[Transition, ...]:
        return tuple(t for t in self.transitions if t.source == state)

    def timers_of(self, state: str) -> tuple[Timer, ...]:
        return self.states[state].timers

    def all_timers(self) -> tuple[Timer, ...]:
        return tuple(t for s in self.states.values() for t in s.timers)

    def calendar_named(self, name: str | None) -> Calendar:
        """The calendar ``name`` (under ``calendars``), or the default one for None."""
        return self.calendar if name is None else self.calendars[name]

    def clock(self, name: str) -> Clock | None:
        return next((c for c in self.clocks if c.name == name), None)

    def action_names(self) -> frozenset[str]:
        names: set[str] = set()
        for s in self.states.values():
            names.update(s.on_enter)
            names.update(s.on_exit)
        for t in self.transitions:
            names.update(t.actions)
        for item_type in self.item_types.values():
            names.update(item_type.action_names())
        return frozenset(names)

    def item_type(self, name: str) -> ItemType | None:
        return self.item_types.get(name)

    def transfer(self, event: str) -> Transfer | None:
        """The transfer ``event`` starts, or None."""
        return next((t for t in self.transfers if t.event == event), None)

    def reopening(self, event: str) -> Reopening | None:
        """The reopening ``event`` performs, or None."""
        return next((r for r in self.reopenings if r.event == event), None)
