"""Work items: records with a lifecycle of their own inside a case (their frozen IR).

A workflow declares item types under ``items:`` (a goal, a referral, an
authorization, an appointment, a contact...). Each type has a JSON Schema for
its data, a small state machine (states with timers, transitions with events,
roles, guards, payload schemas, ``writes``/``set`` over the item's data and
actions), item clocks (deadlines that run while the item is in any of a set of
states) and a creation rule (who may add one, in which case states, from what
payload). An item transition may send an event to its case (``case_event``).

Expressions of an item see ``item`` (the item: ``id``, ``type``, ``state``,
``data``, ``opened_at``, ``closed_at``, ``closed``), ``case``, ``items``,
``event``, ``params`` and ``now``; case expressions see ``items`` too: a map
from every declared item type to the list of the case's items of that type.

Nothing here knows about YAML, the runtime or the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.definitions.model import (
    Duration,
    SourceLocation,
    Timer,
    TimerKind,
    Transition,
)

__all__ = [
    "DEFAULT_MAX_ITEMS",
    "ITEM_CREATE_EVENT",
    "ITEM_ID_PATTERN",
    "MAX_ITEMS_CEILING",
    "ItemClock",
    "ItemCreate",
    "ItemState",
    "ItemType",
]

DEFAULT_MAX_ITEMS = 100
"""Items of one type a case may hold when the type declares no ``max``."""

MAX_ITEMS_CEILING = 1000
"""The largest ``max`` a type may declare."""

ITEM_CREATE_EVENT = "@create"
"""The event name of the history row that creates an item."""

ITEM_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
"""Item ids a host may choose; the engine's own are ``<type>-<n>`` (``referral-3``)."""


@dataclass(frozen=True, slots=True)
class ItemState:
    """One state of an item's lifecycle (items have no phase: the case has)."""

    name: str
    description: str = ""
    final: bool = False  # the item is closed once here (no transition leaves a final state)
    on_enter: tuple[str, ...] = ()
    on_exit: tuple[str, ...] = ()
    timers: tuple[Timer, ...] = ()  # armed on entering the state, cancelled on leaving it
    location: SourceLocation | None = None


@dataclass(frozen=True, slots=True)
class ItemClock:
    """A deadline of the item that runs while the item is in any of ``states``.

    Armed when the item enters one of ``states`` from outside them (or is created
    in one), kept while it moves among them, cancelled when it leaves them all.
    ``kind`` is ``after``, ``business_days`` or ``at`` (CEL over the item, e.g.
    ``item.data.requested_at``, plus ``offset``), as for state timers.
    """

    name: str
    states: tuple[str, ...]
    event: str
    kind: TimerKind
    after: Duration | None = None
    business_days: int | None = None
    at: str | None = None
    offset: Duration | None = None
    calendar: str | None = None
    description: str = ""
    location: SourceLocation | None = None

    def as_timer(self, state: str) -> Timer:
        """The clock's timing as a :class:`Timer` entered in ``state``."""
        return Timer(
            name=self.name,
            state=state,
            event=self.event,
            kind=self.kind,
            after=self.after,
            business_days=self.business_days,
            at=self.at,
            offset=self.offset,
            description=self.description,
            location=self.location,
            calendar=self.calendar,
        )


@dataclass(frozen=True, slots=True)
class ItemCreate:
    """Who may add an item of a type, where, and how its data is made.

    ``payload_schema`` None: the payload is checked against the type's data
    schema. ``writes`` empty and ``copy_payload`` True: the whole payload
    becomes the data (then ``sets`` are applied); otherwise only the listed
    (data field, payload field) pairs are copied.
    """

    roles: tuple[str, ...]
    case_states: tuple[str, ...] = ()  # () = every case state that is not final
    payload_schema: dict[str, Any] | None = None
    writes: tuple[tuple[str, str], ...] = ()
    copy_payload: bool = True
    sets: tuple[tuple[str, str], ...] = ()  # (data field, CEL)
    actions: tuple[str, ...] = ()
    case_event: str | None = None  # sent to the case after the item is created
    description: str = ""
    location: SourceLocation | None = None


@dataclass(frozen=True, slots=True)
class ItemType:
    """A declared item type: data schema, lifecycle, clocks and creation rule.

    ``transitions`` reuse the case :class:`~engine.definitions.model.Transition`
    (``source``/``target`` are item states; ``writes``/``sets`` name item data
    fields; ``case_event`` is the event sent to the case after the change).
    """

    name: str
    data_schema: dict[str, Any]
    initial: str
    states: dict[str, ItemState]  # in definition order
    transitions: tuple[Transition, ...]
    create: ItemCreate
    clocks: tuple[ItemClock, ...] = ()
    max_items: int = DEFAULT_MAX_ITEMS
    title: str = ""
    description: str = ""
    location: SourceLocation | None = None

    @property
    def final_states(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.states.values() if s.final)

    @property
    def events(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for t in self.transitions:
            seen.setdefault(t.event, None)
        return tuple(seen)

    def transitions_from(self, state: str) -> tuple[Transition, ...]:
        return tuple(t for t in self.transitions if t.source == state)

    def timers_of(self, state: str) -> tuple[Timer, ...]:
        return self.states[state].timers

    def clocks_in(self, state: str) -> tuple[ItemClock, ...]:
        return tuple(c for c in self.clocks if state in c.states)

    def action_names(self) -> frozenset[str]:
        names: set[str] = set(self.create.actions)
        for s in self.states.values():
            names.update(s.on_enter)
            names.update(s.on_exit)
        for t in self.transitions:
            names.update(t.actions)
        return frozenset(names)
