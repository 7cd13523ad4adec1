"""One ``transitions`` state machine per work item type (engine/definitions/items.py).

Built like the case machine of :mod:`engine.runtime.machine` (one
:class:`~transitions.Machine` without models; each event is triggered on a
throw-away subject), with the item's own rules: candidate transitions in
definition order, the sender holds a role the transition allows (timers of the
item send as the engine), the payload matches the transition's schema, the
guard is true. The winner's ``writes`` and ``set`` change the item's data, which
is then checked against the type's data schema. Expressions see ``item`` (the
item as it was), ``case``, ``items``, ``event``, ``params`` and ``now``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from transitions import EventData, Machine

from engine.definitions.expressions import Expression, ExpressionError
from engine.definitions.items import ITEM_CREATE_EVENT, ItemType
from engine.definitions.model import Transition
from engine.errors import EventRejected
from engine.runtime.json_policy import MAX_RECORD_BYTES, check_json, problem_of
from engine.runtime.machine import _compile, _Literal, _plain
from engine.runtime.validation import SchemaCheck
from engine.store.records import RejectionReason

_STATE_ATTR = "cw_item_state"
_ITEMS = re.compile(r"\bitems\b")


@dataclass(slots=True)
class _ItemAttempt:
    """Per-call scratch space of one item event."""

    case_id: str
    item_id: str
    case_state: str
    state: str
    event: str
    payload: Mapping[str, Any]
    case_record: Mapping[str, Any]
    items: Mapping[str, Any]
    item: Mapping[str, Any]
    roles: frozenset[str]
    system: bool
    now: datetime
    chosen: Transition | None = None
    new_data: dict[str, Any] | None = None
    exit_actions: list[str] = field(default_factory=list)
    enter_actions: list[str] = field(default_factory=list)
    validated: set[int] = field(default_factory=set)
    role_failures: int = 0
    guard_false: list[str] = field(default_factory=list)
    guard_errors: list[str] = field(default_factory=list)
    tried: int = 0


class _Subject:
    __slots__ = ("attempt", "cw_item_state")

    def __init__(self, state: str, attempt: _ItemAttempt) -> None:
        self.cw_item_state = state
        self.attempt = attempt


def _attempt(ev: EventData) -> _ItemAttempt:
    return cast(_Subject, ev.model).attempt


CallbackList = list[str | Callable[..., bool | None]]


@dataclass(frozen=True, slots=True)
class ItemApplied:
    """The outcome of one accepted item event."""

    transition: Transition
    from_state: str
    to_state: str
    entered: bool  # the item's state was exited and the target entered
    data: dict[str, Any]
    actions: tuple[str, ...]  # on_exit, transition actions, on_enter, in that order


class CompiledItemType:
    """An item type with its machine, validators and compiled expressions."""

    def __init__(self, item_type: ItemType, params: Mapping[str, Any]) -> None:
        self.item_type = item_type
        self.params = params
        name = item_type.name
        self.data_check = SchemaCheck(item_type.data_schema, what=f"data of {name} item")
        c = item_type.create
        schema = c.payload_schema if c.payload_schema is not None else item_type.data_schema
        self.create_check = SchemaCheck(schema, what=f"payload of {ITEM_CREATE_EVENT} {name}")
        self.create_sets = tuple((f, _compile(src)) for f, src in c.sets)
        self._payload_checks: dict[int, SchemaCheck] = {}
        self._guards: dict[int, Expression | _Literal] = {}
        self._sets: dict[int, tuple[tuple[str, Expression | _Literal], ...]] = {}
        self._by_state: dict[tuple[str, str], tuple[Transition, ...]] = {}
        for i, t in enumerate(item_type.transitions):
            if t.payload_schema is not None:
                self._payload_checks[i] = SchemaCheck(
                    t.payload_schema, what=f"payload of item event {t.event}"
                )
            if t.guard:
                self._guards[i] = _compile(t.guard)
            if t.sets:
                self._sets[i] = tuple((f, _compile(src)) for f, src in t.sets)
            key = (t.source, t.event)
            self._by_state[key] = (*self._by_state.get(key, ()), t)
        self._index = {id(t): i for i, t in enumerate(item_type.transitions)}
        sources = [src for _, src in c.sets]
        for t in item_type.transitions:
            sources += [t.guard or "", *(src for _, src in t.sets)]
        #: does any guard or ``set`` of this type name ``items`` (the case's every item)?
        #: When not, an event needs only its own item read (conservative: a string
        #: literal spelling ``items`` counts too).
        self.uses_items = any(_ITEMS.search(src) for src in sources)
        self.machine = self._build_machine()

    # -- construction -----------------------------------------------------------

    def _build_machine(self) -> Machine:
        it = self.item_type
        states = [
            {
                "name": s.name,
                "on_enter": [self._actions_cb(s.on_enter, enter=True)] if s.on_enter else [],
                "on_exit": [self._actions_cb(s.on_exit, enter=False)] if s.on_exit else [],
            }
            for s in it.states.values()
        ]
        machine = Machine(
            model=None,
            states=states,
            initial=it.initial,
            auto_transitions=False,
            send_event=True,
            ignore_invalid_triggers=False,
            model_attribute=_STATE_ATTR,
        )
        for i, t in enumerate(it.transitions):
            conds: CallbackList = [self._conditions_cb(i, t)]
            before: CallbackList = [self._choose_cb(i, t)]
            machine.add_transition(t.event, t.source, t.target, conditions=conds, before=before)
        return machine

    @staticmethod
    def _actions_cb(actions: Sequence[str], *, enter: bool) -> Callable[[EventData], None]:
        names = tuple(actions)

        def cb(ev: EventData) -> None:
            a = _attempt(ev)
            (a.enter_actions if enter else a.exit_actions).extend(names)

        return cb

    def _conditions_cb(self, i: int, t: Transition) -> Callable[[EventData], bool]:
        allowed = frozenset(t.roles)
        check = self._payload_checks.get(i)
        guard = self._guards.get(i)
        source = t.guard or ""
        params = self.params

        def cb(ev: EventData) -> bool:
            a = _attempt(ev)
            a.tried += 1
            if not (a.system or (allowed & a.roles)):
                a.role_failures += 1
                return False
            if check is not None and i not in a.validated:
                check.validate(a.payload, case_id=a.case_id)
                a.validated.add(i)
            if guard is None:
                return True
            try:
                result = guard.evaluate(
                    case=a.case_record,
                    event=a.payload,
                    params=params,
                    now=a.now,
                    items=a.items,
                    item=a.item,
                )
            except ExpressionError:
                a.guard_errors.append(source)
                return False
            if result is True:
                return True
            a.guard_false.append(source)
            return False

        return cb

    def _choose_cb(self, i: int, t: Transition) -> Callable[[EventData], None]:
        sets = self._sets.get(i, ())

        def cb(ev: EventData) -> None:
            a = _attempt(ev)
            a.chosen = t
            data = dict(a.item.get("data") or {})
            computed = self._computed(sets, a, a.item)
            for data_field, payload_field in t.writes:
                if payload_field in a.payload:
                    data[data_field] = a.payload[payload_field]
            data.update(computed)
            if data != a.item.get("data"):
                self.check_data(data, a)
            a.new_data = data

        return cb

    def _computed(
        self,
        sets: Sequence[tuple[str, Expression | _Literal]],
        a: _ItemAttempt,
        item: Mapping[str, Any],
    ) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = []
        for data_field, expr in sets:
            try:
                value = expr.evaluate(
                    case=a.case_record,
                    event=a.payload,
                    params=self.params,
                    now=a.now,
                    items=a.items,
                    item=item,
                )
            except ExpressionError:
                raise self._reject(
                    a,
                    RejectionReason.GUARD_ERROR,
                    f"the `set` expression for item field {data_field!r} could not be evaluated",
                ) from None
            plain = _plain(value)
            found = problem_of(plain, f"$.{data_field}")
            if found is not None:
                raise self._reject(
                    a,
                    RejectionReason.GUARD_ERROR,
                    f"the `set` expression for item field {data_field!r} gave a value the "
                    f"item cannot hold ({found[1]})",
                )
            out.append((data_field, plain))
        return out

    def check_data(self, data: Mapping[str, Any], a: _ItemAttempt) -> None:
        self.data_check.validate(data, case_id=a.case_id)
        check_json(
            data, what=f"data of item {a.item_id}", case_id=a.case_id, max_bytes=MAX_RECORD_BYTES
        )

    # -- use --------------------------------------------------------------------

    def candidates(self, state: str, event: str) -> tuple[Transition, ...]:
        return self._by_state.get((state, event), ())

    def events_from(self, state: str, roles: frozenset[str]) -> list[str]:
        """Events the roles may send to an item in ``state`` (guards not evaluated)."""
        seen: dict[str, None] = {}
        for t in self.item_type.transitions:
            if t.source == state and (frozenset(t.roles) & roles):
                seen.setdefault(t.event, None)
        return list(seen)

    def create_data(
        self,
        *,
        case_id: str,
        case_state: str,
        item_id: str,
        payload: Mapping[str, Any],
        case_record: Mapping[str, Any],
        items: Mapping[str, Any],
        item: Mapping[str, Any],
        now: datetime,
    ) -> dict[str, Any]:
        """The data of a new item from its creation payload; raises PayloadInvalid or
        EventRejected (a ``set`` that cannot be evaluated)."""
        c = self.item_type.create
        self.create_check.validate(payload, case_id=case_id)
        if c.writes or not c.copy_payload:
            data = {f: payload[p] for f, p in c.writes if p in payload}
        else:
            data = dict(payload)
        a = _ItemAttempt(
            case_id=case_id,
            item_id=item_id,
            case_state=case_state,
            state=self.item_type.initial,
            event=ITEM_CREATE_EVENT,
            payload=payload,
            case_record=case_record,
            items=items,
            item={**item, "data": data},
            roles=frozenset(),
            system=True,
            now=now,
        )
        data.update(self._computed(self.create_sets, a, a.item))
        self.check_data(data, a)
        return data

    def apply(
        self,
        *,
        case_id: str,
        case_state: str,
        item: Mapping[str, Any],
        event: str,
        payload: Mapping[str, Any],
        case_record: Mapping[str, Any],
        items: Mapping[str, Any],
        roles: Sequence[str],
        now: datetime,
        system: bool = False,
    ) -> ItemApplied:
        """Run ``event`` on an item (``item``: its CEL map); raises EventRejected or
        PayloadInvalid."""
        state = str(item["state"])
        a = _ItemAttempt(
            case_id=case_id,
            item_id=str(item["id"]),
            case_state=case_state,
            state=state,
            event=event,
            payload=payload,
            case_record=case_record,
            items=items,
            item=item,
            roles=frozenset(roles),
            system=system,
            now=now,
        )
        if state in self.item_type.final_states:
            raise self._reject(
                a, RejectionReason.ITEM_CLOSED, f"the item is closed (final state {state!r})"
            )
        if not self.candidates(state, event):
            sources = sorted({t.source for t in self.item_type.transitions if t.event == event})
            detail = (
                f"event not accepted in item state {state!r}; accepted in: {', '.join(sources)}"
                if sources
                else f"item type {self.item_type.name!r} has no event {event!r}"
            )
            raise self._reject(a, RejectionReason.WRONG_STATE, detail)
        subject = _Subject(state, a)
        ok = self.machine.events[event].trigger(subject)
        if not ok or a.chosen is None:
            raise self._explain(a)
        t = a.chosen
        actions = (*a.exit_actions, *t.actions, *a.enter_actions) if t.target else t.actions
        return ItemApplied(
            transition=t,
            from_state=state,
            to_state=subject.cw_item_state,
            entered=t.target is not None,
            data=a.new_data if a.new_data is not None else dict(item.get("data") or {}),
            actions=tuple(actions),
        )

    def _explain(self, a: _ItemAttempt) -> EventRejected:
        if a.role_failures == a.tried:
            needed = sorted({r for t in self.candidates(a.state, a.event) for r in t.roles})
            detail = (
                f"needs one of the roles: {', '.join(needed)}"
                if needed
                else "only the engine (timers) may send this event"
            )
            return self._reject(a, RejectionReason.ROLE_MISSING, detail)
        if a.guard_errors and not a.guard_false:
            return self._reject(
                a, RejectionReason.GUARD_ERROR, f"guard could not be evaluated: {a.guard_errors[0]}"
            )
        guards = "; ".join(a.guard_false + a.guard_errors)
        return self._reject(a, RejectionReason.GUARD_FALSE, f"guard false: {guards}")

    def _reject(self, a: _ItemAttempt, reason: str, detail: str) -> EventRejected:
        return EventRejected(
            case_id=a.case_id,
            state=a.state,
            event=a.event,
            reason=reason,
            detail=detail,
            allowed_events=self.events_from(a.state, a.roles),
            item_id=a.item_id,
            item_type=self.item_type.name,
            case_state=a.case_state,
        )

    def check_guard(
        self,
        t: Transition,
        *,
        case_record: Mapping[str, Any],
        items: Mapping[str, Any],
        item: Mapping[str, Any],
        now: datetime,
    ) -> tuple[bool, str | None]:
        """A transition's guard with an empty payload (for allowed_item_events)."""
        guard = self._guards.get(self._index[id(t)])
        if guard is None:
            return True, None
        try:
            result = guard.evaluate(
                case=case_record, event={}, params=self.params, now=now, items=items, item=item
            )
        except ExpressionError:
            if "event" in (t.guard or ""):
                return True, None
            return False, RejectionReason.GUARD_ERROR
        return (True, None) if result is True else (False, RejectionReason.GUARD_FALSE)
