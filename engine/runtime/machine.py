"""One ``transitions`` state machine per workflow definition version.

This is the only module that imports ``transitions``. A
:class:`CompiledWorkflow` is built once per (workflow, version) and cached by
the engine; applying an event binds the machine to a tiny throw-away subject
object (``Event.trigger(subject)``, no ``add_model``), so no machine is built
per event. Every callback handed to ``transitions`` is a Python callable,
never a string: strings would make ``transitions`` import dotted paths.

Per candidate transition, in definition order, the conditions are: (return
to the previous state only) the recorded previous state matches, the sender
holds a role the transition allows, the payload matches the transition's
schema (raises :class:`PayloadInvalid`), the guard is true. The first
transition whose conditions hold wins; its ``before`` callback applies the
writes and sets and re-validates the case record before the state changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, cast

from transitions import EventData, Machine

from engine.definitions.expressions import Expression, ExpressionError, compile_expression
from engine.definitions.model import PREVIOUS_STATE, Transition, WorkflowDefinition
from engine.errors import EventRejected
from engine.runtime.json_policy import MAX_RECORD_BYTES, check_json, problem_of
from engine.runtime.validation import CaseRecordCheck, SchemaCheck
from engine.store.records import RejectionReason

_STATE_ATTR = "cw_state"  # not "state": an event may be called "state"


class _Literal:
    """A constant ``set`` expression (``"0"``, ``'"completed"'``, ``null``): no CEL call."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def evaluate(self, **_: Any) -> Any:
        return self.value


_LITERAL_WORDS = {"null": None, "true": True, "false": False}


def _literal(source: str) -> tuple[bool, Any]:
    """(True, value) when ``source`` is a plain CEL literal with the same meaning in JSON."""
    text = source.strip()
    if text in _LITERAL_WORDS:
        return True, _LITERAL_WORDS[text]
    if text.isdigit() or (text.startswith("-") and text[1:].isdigit()):
        return True, int(text)
    quoted = len(text) >= 2 and text[0] == text[-1] == '"'
    if quoted and '"' not in text[1:-1] and "\\" not in text:
        return True, text[1:-1]
    return False, None


def _compile(source: str) -> Expression | _Literal:
    compiled = compile_expression(source)  # still compiled: a bad literal fails the same way
    is_literal, value = _literal(source)
    return _Literal(value) if is_literal else compiled


@dataclass(slots=True)
class _Attempt:
    """Per-call scratch space: what was tried and what the winner did."""

    case_id: str
    state: str
    previous_state: str | None
    event: str
    payload: Mapping[str, Any]
    record: Mapping[str, Any]
    roles: frozenset[str]
    system: bool
    now: datetime
    items: Mapping[str, Any] | None = None  # item type -> the case's items (work items)
    chosen: Transition | None = None
    new_record: dict[str, Any] | None = None
    exit_actions: list[str] = field(default_factory=list)
    enter_actions: list[str] = field(default_factory=list)
    validated: set[int] = field(default_factory=set)
    role_failures: int = 0
    guard_false: list[str] = field(default_factory=list)
    guard_errors: list[str] = field(default_factory=list)
    previous_mismatch: int = 0
    tried: int = 0


class _Subject:
    """The object ``transitions`` moves between states for one call."""

    __slots__ = ("attempt", "cw_state")

    def __init__(self, state: str, attempt: _Attempt) -> None:
        self.cw_state = state
        self.attempt = attempt


def _attempt(ev: EventData) -> _Attempt:
    return cast(_Subject, ev.model).attempt


Callback = Callable[..., bool | None]
CallbackList = list[str | Callback]  # the stubs' type; only callables are ever passed


def _all_of(checks: Sequence[Callable[[EventData], bool]]) -> Callable[[EventData], bool]:
    if len(checks) == 1:
        return checks[0]

    def cb(ev: EventData) -> bool:
        return all(check(ev) for check in checks)

    return cb


@dataclass(frozen=True, slots=True)
class Applied:
    """The outcome of one accepted event."""

    transition: Transition
    from_state: str
    to_state: str
    entered: bool  # the source state was exited and the target entered (also self-transitions)
    record: dict[str, Any]
    actions: tuple[str, ...]  # on_exit, transition actions, on_enter, in that order


def _plain(value: Any) -> Any:
    """Make a CEL result JSON-ready."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class CompiledWorkflow:
    """A definition version with its machine, validators and compiled expressions."""

    def __init__(self, definition: WorkflowDefinition) -> None:
        self.definition = definition
        self.params: Mapping[str, Any] = definition.parameters
        self.case_check = CaseRecordCheck(definition.case_schema)
        props = definition.case_schema.get("properties", {})
        self.defaults: dict[str, Any] = {
            k: v["default"] for k, v in props.items() if isinstance(v, Mapping) and "default" in v
        }
        self._payload_checks: dict[int, SchemaCheck] = {}
        self._guards: dict[int, Expression | _Literal] = {}
        self._sets: dict[int, tuple[tuple[str, Expression | _Literal], ...]] = {}
        self._by_state: dict[tuple[str, str], tuple[Transition, ...]] = {}
        for i, t in enumerate(definition.transitions):
            if t.payload_schema is not None:
                self._payload_checks[i] = SchemaCheck(
                    t.payload_schema, what=f"payload of event {t.event}"
                )
            if t.guard:
                self._guards[i] = _compile(t.guard)
            if t.sets:
                self._sets[i] = tuple((f, _compile(src)) for f, src in t.sets)
            self._by_state[(t.source, t.event)] = (*self._by_state.get((t.source, t.event), ()), t)
        self._index = {id(t): i for i, t in enumerate(definition.transitions)}
        self.machine = self._build_machine()
        from engine.runtime.item_machine import CompiledItemType  # it builds on this module

        self.item_types = {
            name: CompiledItemType(it, self.params) for name, it in definition.item_types.items()
        }

    # -- construction -----------------------------------------------------------

    def _build_machine(self) -> Machine:
        d = self.definition
        states = []
        for s in d.states.values():
            states.append(
                {
                    "name": s.name,
                    "on_enter": [self._on_enter_cb(s.on_enter)] if s.on_enter else [],
                    "on_exit": [self._on_exit_cb(s.on_exit)] if s.on_exit else [],
                }
            )
        machine = Machine(
            model=None,
            states=states,
            initial=d.initial,
            auto_transitions=False,
            send_event=True,
            ignore_invalid_triggers=False,
            model_attribute=_STATE_ATTR,
        )
        plain_states = [s.name for s in d.states.values()]
        for i, t in enumerate(d.transitions):
            checks = [self._role_cb(i, t)]
            if i in self._payload_checks:
                checks.append(self._payload_cb(i))
            if i in self._guards:
                checks.append(self._guard_cb(i, t))
            # one transitions condition per transition: role, then payload, then guard
            conds: CallbackList = [_all_of(checks)]
            before: CallbackList = [self._choose_cb(i, t)]
            if t.target == PREVIOUS_STATE:
                for p in plain_states:
                    machine.add_transition(
                        t.event,
                        t.source,
                        p,
                        conditions=[self._previous_cb(p), *conds],
                        before=before,
                    )
            else:
                machine.add_transition(t.event, t.source, t.target, conditions=conds, before=before)
        return machine

    @staticmethod
    def _on_enter_cb(actions: Sequence[str]) -> Callable[[EventData], None]:
        names = tuple(actions)

        def cb(ev: EventData) -> None:
            _attempt(ev).enter_actions.extend(names)

        return cb

    @staticmethod
    def _on_exit_cb(actions: Sequence[str]) -> Callable[[EventData], None]:
        names = tuple(actions)

        def cb(ev: EventData) -> None:
            _attempt(ev).exit_actions.extend(names)

        return cb

    @staticmethod
    def _previous_cb(candidate: str) -> Callable[[EventData], bool]:
        def cb(ev: EventData) -> bool:
            a: _Attempt = _attempt(ev)
            if a.previous_state == candidate:
                return True
            a.previous_mismatch += 1
            return False

        return cb

    @staticmethod
    def _role_cb(i: int, t: Transition) -> Callable[[EventData], bool]:
        allowed = frozenset(t.roles)

        def cb(ev: EventData) -> bool:
            a: _Attempt = _attempt(ev)
            a.tried += 1
            if a.system or (allowed & a.roles):
                return True
            a.role_failures += 1
            return False

        return cb

    def _payload_cb(self, i: int) -> Callable[[EventData], bool]:
        check = self._payload_checks.get(i)

        def cb(ev: EventData) -> bool:
            a: _Attempt = _attempt(ev)
            if check is not None and i not in a.validated:
                check.validate(a.payload, case_id=a.case_id)
                a.validated.add(i)
            return True

        return cb

    def _guard_cb(self, i: int, t: Transition) -> Callable[[EventData], bool]:
        guard = self._guards.get(i)
        params = self.params
        source = t.guard or ""

        def cb(ev: EventData) -> bool:
            if guard is None:
                return True
            a: _Attempt = _attempt(ev)
            try:
                result = guard.evaluate(
                    case=a.record, event=a.payload, params=params, now=a.now, items=a.items
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
        params = self.params
        case_check = self.case_check

        def cb(ev: EventData) -> None:
            a: _Attempt = _attempt(ev)
            a.chosen = t
            # Every `set` sees the case as it was before this event (as the language
            # documents), so the order of the fields and the `writes` do not matter.
            computed: list[tuple[str, Any]] = []
            for case_field, expr in sets:
                try:
                    value = expr.evaluate(
                        case=a.record, event=a.payload, params=params, now=a.now, items=a.items
                    )
                except ExpressionError:
                    raise EventRejected(
                        case_id=a.case_id,
                        state=a.state,
                        event=a.event,
                        reason=RejectionReason.GUARD_ERROR,
                        detail=f"the `set` expression for field {case_field!r} "
                        "could not be evaluated",
                    ) from None
                plain = _plain(value)
                found = problem_of(plain, f"$.{case_field}")
                if found is not None:  # NaN from 0.0/0.0, an integer past 64 bits...
                    raise EventRejected(
                        case_id=a.case_id,
                        state=a.state,
                        event=a.event,
                        reason="guard_error",
                        detail=f"the `set` expression for field {case_field!r} gave a value "
                        f"the record cannot hold ({found[1]})",
                    )
                computed.append((case_field, plain))
            record = dict(a.record)
            for case_field, payload_field in t.writes:
                if payload_field in a.payload:
                    record[case_field] = a.payload[payload_field]
            record.update(computed)
            if record != a.record:
                case_check.validate(record, case_id=a.case_id)
                check_json(
                    record, what="case record", case_id=a.case_id, max_bytes=MAX_RECORD_BYTES
                )
            a.new_record = record

        return cb

    # -- use --------------------------------------------------------------------

    def candidates(self, state: str, event: str) -> tuple[Transition, ...]:
        return self._by_state.get((state, event), ())

    def events_from(self, state: str, roles: frozenset[str]) -> list[str]:
        """Events the roles may send from ``state`` (guards not evaluated)."""
        seen: dict[str, None] = {}
        for t in self.definition.transitions:
            if t.source == state and (frozenset(t.roles) & roles):
                seen.setdefault(t.event, None)
        return list(seen)

    def apply(
        self,
        *,
        case_id: str,
        state: str,
        previous_state: str | None,
        event: str,
        payload: Mapping[str, Any],
        record: Mapping[str, Any],
        roles: Sequence[str],
        now: datetime,
        system: bool = False,
        items: Mapping[str, Any] | None = None,
    ) -> Applied:
        """Run ``event`` on a case (``items``: its work items for CEL, type -> list);
        raises EventRejected or PayloadInvalid."""
        role_set = frozenset(roles)
        if not self.candidates(state, event):
            sources = sorted({t.source for t in self.definition.transitions if t.event == event})
            detail = (
                f"event not accepted in state {state!r}; accepted in: {', '.join(sources)}"
                if sources
                else f"the workflow has no event {event!r}"
            )
            raise self._reject(case_id, state, event, RejectionReason.WRONG_STATE, detail, role_set)
        attempt = _Attempt(
            case_id=case_id,
            state=state,
            previous_state=previous_state,
            event=event,
            payload=payload,
            record=record,
            roles=role_set,
            system=system,
            now=now,
            items=items,
        )
        subject = _Subject(state, attempt)
        ok = self.machine.events[event].trigger(subject)
        if not ok or attempt.chosen is None:
            raise self._explain(attempt)
        t = attempt.chosen
        to_state: str = subject.cw_state
        entered = t.target is not None
        actions = (
            (*attempt.exit_actions, *t.actions, *attempt.enter_actions) if entered else t.actions
        )
        return Applied(
            transition=t,
            from_state=state,
            to_state=to_state,
            entered=entered,
            record=attempt.new_record if attempt.new_record is not None else dict(record),
            actions=tuple(actions),
        )

    def _explain(self, a: _Attempt) -> EventRejected:
        if a.tried == 0 and a.previous_mismatch:
            return self._reject(
                a.case_id,
                a.state,
                a.event,
                RejectionReason.WRONG_STATE,
                "no previous state to return to",
                a.roles,
            )
        if a.role_failures == a.tried:
            needed = sorted({r for t in self.candidates(a.state, a.event) for r in t.roles})
            detail = (
                f"needs one of the roles: {', '.join(needed)}"
                if needed
                else "only the engine (timers) may send this event"
            )
            return self._reject(
                a.case_id, a.state, a.event, RejectionReason.ROLE_MISSING, detail, a.roles
            )
        if a.guard_errors and not a.guard_false:
            return self._reject(
                a.case_id,
                a.state,
                a.event,
                RejectionReason.GUARD_ERROR,
                f"guard could not be evaluated: {a.guard_errors[0]}",
                a.roles,
            )
        guards = "; ".join(a.guard_false + a.guard_errors)
        return self._reject(
            a.case_id,
            a.state,
            a.event,
            RejectionReason.GUARD_FALSE,
            f"guard false: {guards}",
            a.roles,
        )

    def _reject(
        self, case_id: str, state: str, event: str, reason: str, detail: str, roles: frozenset[str]
    ) -> EventRejected:
        return EventRejected(
            case_id=case_id,
            state=state,
            event=event,
            reason=reason,
            detail=detail,
            allowed_events=self.events_from(state, roles),
        )

    def check_guard(
        self,
        t: Transition,
        *,
        record: Mapping[str, Any],
        now: datetime,
        items: Mapping[str, Any] | None = None,
    ) -> tuple[bool, str | None]:
        """Evaluate a transition's guard with an empty payload (for allowed_events).

        Returns (allowed, reason); a guard that cannot be evaluated without a
        payload is reported as allowed.
        """
        guard = self._guards.get(self._index[id(t)])
        if guard is None:
            return True, None
        try:
            result = guard.evaluate(case=record, event={}, params=self.params, now=now, items=items)
        except ExpressionError:
            if "event" in (t.guard or ""):
                return True, None
            return False, RejectionReason.GUARD_ERROR
        return (True, None) if result is True else (False, RejectionReason.GUARD_FALSE)
