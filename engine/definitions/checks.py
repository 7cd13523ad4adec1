"""Static checks beyond the schema, each a located Diagnostic with a stable code.

Codes: unknown-target, initial-missing, initial-not-intake, no-final-state,
final-has-transitions, final-has-timers, final-not-closure,
timer-event-unhandled, duplicate-timer, cel-syntax, unknown-variable,
unknown-case-field, unknown-event-field, unknown-param, param-type,
unknown-role, invalid-duration, invalid-case-schema, invalid-payload-schema,
unknown-write-field, unknown-set-field, empty-phase, previous-not-hold,
offset-without-at, transition-target, invalid-timezone, invalid-calendar;
warning: shadowed-transition. Clocks, named calendars and payload usage are
checked by :mod:`clock_checks`, item types by :mod:`item_checks`. Graph checks
(unreachable-state, cannot-close, warning no-way-out) live in
:mod:`graph_checks`; YAML, schema and include
codes in :mod:`yaml_reader`, :mod:`schema_validation` and :mod:`assemble`.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from engine.definitions.assemble import (
    PREVIOUS,
    Assembled,
    Origin,
    RawTransition,
    as_dict,
    as_list,
    as_str,
    did_you_mean,
    str_list,
)
from engine.definitions.business_keys import business_key_diagnostics
from engine.definitions.clock_checks import ClockChecks
from engine.definitions.diagnostics import Diagnostic
from engine.definitions.durations import is_duration_syntax, is_offset_syntax
from engine.definitions.field_checks import FieldChecks
from engine.definitions.graph_checks import graph_diagnostics
from engine.definitions.item_checks import ItemChecks
from engine.definitions.model import PHASE_ORDER, Phase
from engine.definitions.resolve import Problem, resolve_business_days, resolve_duration
from engine.definitions.schema_patterns import pattern_problems


def run_checks(asm: Assembled) -> list[Diagnostic]:
    """Every static-check finding for an assembled workflow (deduplicated, sorted)."""
    c = _Checker(asm)
    c.run()
    unique = {(d.file, d.line, d.column, d.json_path, d.code, d.message): d for d in c.out}
    return sorted(unique.values(), key=lambda d: (d.sort_key, d.code))


def schema_properties(schema: Any) -> set[str] | None:
    """Declared top-level properties of a JSON Schema, or None when it declares none."""
    props = as_dict(schema).get("properties")
    return set(props) if isinstance(props, dict) else None


class _Checker(FieldChecks, ClockChecks, ItemChecks):
    def __init__(self, asm: Assembled) -> None:
        self.asm = asm
        self.out: list[Diagnostic] = []
        self.states = asm.states
        self.case_fields = schema_properties(asm.data.get("case_schema"))
        self.item_fields = {
            name: schema_properties(as_dict(raw).get("schema"))
            for name, raw in as_dict(asm.data.get("items")).items()
        }

    def add(
        self,
        origin: Origin,
        sub: tuple[str | int, ...],
        message: str,
        code: str,
        *,
        key: bool = False,
        hint: str | None = None,
        severity: str = "error",
    ) -> None:
        self.out.append(origin.diag(sub, message, code, key=key, hint=hint, severity=severity))

    def problem(self, origin: Origin, sub: tuple[str | int, ...], p: Problem | None) -> None:
        if p is not None:
            self.add(origin, sub, p.message, p.code, hint=p.hint)

    def run(self) -> None:
        self.check_settings()
        self.check_case_schema()
        self.check_initial()
        self.check_open_roles()
        self.check_states()
        self.check_transitions()
        self.check_action_arguments()
        self.check_clocks()
        self.check_items()
        self.check_payload_usage()
        self.out.extend(graph_diagnostics(self.asm))
        self.out.extend(business_key_diagnostics(self.asm))

    # -- workflow level ------------------------------------------------------------

    def check_settings(self) -> None:
        data = self.asm.data
        tz = data.get("timezone")
        if isinstance(tz, str):
            try:
                ZoneInfo(tz)
            except (ZoneInfoNotFoundError, ValueError):
                self.add(
                    self.asm.origin(),
                    ("timezone",),
                    f"unknown time zone '{tz}'",
                    "invalid-timezone",
                    hint="use an IANA name such as America/Chicago",
                )
        cal = data.get("calendar")
        if isinstance(cal, dict) and isinstance(cal.get("country", "US"), str):
            self.check_calendar_at(self.asm.origin("calendar"), cal)
        self.check_named_calendars()

    def check_action_arguments(self) -> None:
        """Each argument of the ``actions:`` map is CEL over case, event, params and now."""
        actions = self.asm.data.get("actions")
        if not isinstance(actions, dict):
            return
        by_items = _item_action_names(as_dict(self.asm.data.get("items")))
        for name, entry in actions.items():
            arguments = as_dict(entry).get("arguments")
            if not isinstance(arguments, dict):
                continue
            for arg, source in arguments.items():
                if isinstance(source, str):
                    sub = ("actions", name, "arguments", arg)
                    self.check_cel(
                        self.asm.origin(), sub, source, payload=None, item_allowed=name in by_items
                    )

    def check_calendar_at(self, origin: Origin, cal: dict[str, Any]) -> None:
        import holidays

        country = cal.get("country", "US")
        subdiv = cal.get("subdivision")
        attempts: list[tuple[str, dict[str, Any]]] = [("country", {})]
        if isinstance(subdiv, str):
            attempts.append(("subdivision", {"subdiv": subdiv}))
        categories = cal.get("categories")
        if isinstance(categories, list) and all(isinstance(c, str) for c in categories):
            attempts.append(("categories", {"categories": tuple(categories)}))
        code = "invalid-calendar"
        for where, extra in attempts:
            try:
                holidays.country_holidays(country, **extra)
            except NotImplementedError:
                what = f"country '{country}'" if where == "country" else f"subdivision '{subdiv}'"
                self.add(origin, (where,), f"no holiday calendar is known for {what}", code)
                return
            except Exception:  # the holidays package validates in its own ways
                message = (
                    "holiday categories not known for this country"
                    if where == "categories"
                    else "invalid holiday calendar"
                )
                self.add(origin, (where,), message, code)
                return
        weekend = cal.get("weekend")
        if isinstance(weekend, list) and len(set(map(str, weekend))) >= 7:
            self.add(origin, ("weekend",), "a weekend of every day leaves no business day", code)

    def check_case_schema(self) -> None:
        schema = self.asm.data.get("case_schema")
        if isinstance(schema, dict):
            self.check_json_schema(
                self.asm.origin("case_schema"), schema, "invalid-case-schema", "case_schema"
            )

    def check_json_schema(
        self, origin: Origin, schema: dict[str, Any], code: str, what: str
    ) -> None:
        problem = _schema_problem(json.dumps(schema, sort_keys=True))
        if problem is not None:
            sub, message, container = problem
            self.add(
                origin,
                sub,
                f"{what} is not a valid JSON Schema: {message}",
                code,
                key=container,
            )
        for sub, message in pattern_problems(schema):
            self.add(origin, sub, f"{what}: {message}", "pattern-not-linear")

    def check_initial(self) -> None:
        data = self.asm.data
        initial = data.get("initial")
        if not isinstance(initial, str):
            return
        origin = self.asm.origin()
        state = self.states.get(initial)
        if state is None:
            self.add(
                origin,
                ("initial",),
                f"initial state '{initial}' is not defined",
                "initial-missing",
                hint=did_you_mean(initial, self.states),
            )
        elif state.phase is not None and state.phase != Phase.INTAKE:
            self.add(
                origin,
                ("initial",),
                f"initial state '{initial}' is in phase '{state.phase}', not intake",
                "initial-not-intake",
            )

    def check_open_roles(self) -> None:
        roles = self.asm.roles
        for j, role in enumerate(as_list(self.asm.data.get("open_roles"))):
            if isinstance(role, str) and role not in roles:
                self.add(
                    self.asm.origin(),
                    ("open_roles", j),
                    f"role '{role}' is not declared under roles",
                    "unknown-role",
                    hint=did_you_mean(role, roles),
                )

    # -- states and timers ---------------------------------------------------------

    def check_states(self) -> None:
        used_phases = {s.phase for s in self.states.values()}
        known = {p.value for p in PHASE_ORDER}
        if isinstance(self.asm.data.get("states"), dict) and used_phases <= known:
            for phase in PHASE_ORDER:
                if phase.value not in used_phases:
                    self.add(
                        self.asm.origin(),
                        ("states",),
                        f"phase '{phase.value}' has no state",
                        "empty-phase",
                        key=True,
                    )
        if self.states and not any(s.final for s in self.states.values()):
            self.add(
                self.asm.origin(),
                ("states",),
                "no state is final: a case could never close",
                "no-final-state",
                key=True,
            )
        for state in self.states.values():
            if state.final and state.phase is not None and state.phase != Phase.CLOSURE:
                self.add(
                    state.origin,
                    ("phase",),
                    f"final state '{state.name}' is in phase '{state.phase}', not closure",
                    "final-not-closure",
                )
            self.check_timers(state.name)

    def check_timers(self, name: str) -> None:
        state = self.states[name]
        handled = {t.event for t in self.asm.transitions_from(name) if t.event is not None}
        self.check_timer_entries(
            state.origin, state.data, handled, state=f"state '{name}'", final=state.final
        )

    def check_timer_entries(
        self,
        origin: Origin,
        data: dict[str, Any],
        handled: set[str],
        *,
        state: str,
        final: bool,
        item_type: str | None = None,
    ) -> None:
        """The ``timers`` of a case state or an item state (``origin``/``data`` the state's;
        ``handled`` the events its transitions handle; ``state`` how messages name it)."""
        timers = as_list(data.get("timers"))
        if final and timers:
            closed = "the item is closed there" if item_type else "the case is closed there"
            self.add(
                origin,
                ("timers",),
                f"final {state} must not have timers: {closed}",
                "final-has-timers",
                key=True,
            )
        seen: dict[str, int] = {}
        for i, timer in enumerate(timers):
            if not isinstance(timer, dict):
                continue
            torigin = origin.child("timers", i)
            tname = as_str(timer.get("name"))
            if tname is not None:
                if tname in seen:
                    self.add(
                        torigin,
                        ("name",),
                        f"timer '{tname}' is defined twice in {state}",
                        "duplicate-timer",
                    )
                seen.setdefault(tname, i)
            event = as_str(timer.get("event"))
            if event is not None and event not in handled:
                self.add(
                    torigin,
                    ("event",),
                    f"no transition of {state} handles the timer's event '{event}'",
                    "timer-event-unhandled",
                    hint=did_you_mean(event, handled),
                )
            self.check_timing(torigin, timer, item_type=item_type)

    def check_timing(
        self, origin: Origin, timer: dict[str, Any], *, item_type: str | None = None
    ) -> None:
        """Durations, $params, calendar, offset and the ``at`` expression of a timer
        (or of an item clock: the same keys)."""
        for key in ("after", "every", "offset"):
            raw = timer.get(key)
            signed = key == "offset"
            syntax = is_offset_syntax if signed else is_duration_syntax
            if isinstance(raw, str) and (raw.startswith("$") or syntax(raw)):
                # other literals break the schema's pattern, which says so already
                _, p = resolve_duration(self.asm, raw, signed=signed)
                self.problem(origin, (key,), p)
        if "business_days" in timer:
            _, p = resolve_business_days(self.asm, timer["business_days"])
            self.problem(origin, ("business_days",), p)
        if "calendar" in timer:
            self.check_calendar_name(origin, timer.get("calendar"))
        if "offset" in timer and "at" not in timer:
            self.add(origin, ("offset",), "offset is only allowed with 'at'", "offset-without-at")
        at = timer.get("at")
        if isinstance(at, str):
            self.check_cel(
                origin, ("at",), at, payload=None, allow_event=False, item_type=item_type
            )

    # -- transitions -----------------------------------------------------------------

    def check_shadowed(self) -> None:
        """Warn about a transition that can never be taken: an earlier one for the same
        event from the same state has no guard. A state's own unguarded transition
        overriding a shared one is deliberate and not reported."""
        for name in self.states:
            unguarded: dict[str, RawTransition] = {}
            for t in self.asm.transitions_from(name):
                event = t.event
                if event is None:
                    continue
                first = unguarded.get(event)
                if first is not None and (t.shared == first.shared):
                    line, col = first.origin.position()
                    self.add(
                        t.origin,
                        (),
                        f"this transition for event '{event}' from '{name}' is never taken: "
                        "an earlier one has no guard",
                        "shadowed-transition",
                        key=True,
                        severity="warning",
                        hint=f"the earlier one is at {first.origin.doc.file}:{line}:{col}",
                    )
                if "guard" not in t.data:
                    unguarded.setdefault(event, t)

    def per_origin(
        self, t: RawTransition, kind: str, code: str, sub: tuple[str | int, ...]
    ) -> None:
        """Collect a state-specific problem once per written transition (a shared one
        expands into many states: one diagnostic naming them all)."""
        key = (t.origin.doc.file, t.origin.path, kind)
        entry = self.grouped.setdefault(key, (t.origin, code, sub, []))
        entry[3].append(t.source)

    def flush_grouped(self) -> None:
        for (_, _, kind), (origin, code, sub, sources) in self.grouped.items():
            names = ", ".join(f"'{n}'" for n in sources)
            if kind == "final":
                many = len(sources) > 1
                message = f"final state{'s' if many else ''} {names} must not have transitions"
                self.add(origin, sub, message, code, key=True)
            else:
                verb = "are not hold states" if len(sources) > 1 else "is not a hold state"
                self.add(
                    origin,
                    sub,
                    f"'@previous' is only allowed from a hold state; {names} {verb}",
                    code,
                    hint="set hold: true on the state, or target a state by name",
                )
        self.grouped.clear()

    def check_transitions(self) -> None:
        self.check_shadowed()
        self.grouped: dict[
            tuple[str, Any, str], tuple[Origin, str, tuple[str | int, ...], list[str]]
        ] = {}
        try:
            self._check_transitions()
        finally:
            self.flush_grouped()

    def _check_transitions(self) -> None:
        for t in self.asm.transitions:
            data, origin = t.data, t.origin
            source = self.states[t.source]
            if source.final:
                self.per_origin(t, "final", "final-has-transitions", ())
            has_target = "target" in data and data["target"] is not None
            if data.get("internal") is True and has_target:
                self.add(
                    origin,
                    ("internal",),
                    "a transition has either a target or internal: true, not both",
                    "transition-target",
                )
            elif data.get("internal") is False and not has_target and "target" not in data:
                self.add(
                    origin, ("internal",), "internal: false needs a target", "transition-target"
                )
            target = t.target
            if target is not None:
                if target == PREVIOUS:
                    if not source.hold:
                        self.per_origin(t, "previous", "previous-not-hold", ("target",))
                elif target not in self.states:
                    self.add(
                        origin,
                        ("target",),
                        f"unknown target state '{target}'",
                        "unknown-target",
                        hint=did_you_mean(target, self.states),
                    )
            self.check_transition_body(origin, data)

    def check_roles(self, origin: Origin, roles: Any) -> None:
        """Each of ``roles`` (the ``roles`` list under ``origin``) is declared."""
        declared = self.asm.roles
        for j, role in enumerate(as_list(roles)):
            if isinstance(role, str) and role not in declared:
                self.add(
                    origin,
                    ("roles", j),
                    f"role '{role}' is not declared under roles",
                    "unknown-role",
                    hint=did_you_mean(role, declared),
                )

    def check_transition_body(
        self,
        origin: Origin,
        data: dict[str, Any],
        *,
        item_type: str | None = None,
        create: bool = False,
    ) -> None:
        """Roles, payload schema, guard, writes and set of a case transition, or of a
        transition (or the creation rule) of ``item_type``, whose writes and sets name
        the item's data fields."""
        self.check_roles(origin, data.get("roles"))
        payload = data.get("payload")
        payload_fields: set[str] | None = None
        if isinstance(payload, dict):
            self.check_json_schema(
                origin.child("payload"), payload, "invalid-payload-schema", "payload"
            )
            payload_fields = schema_properties(payload)
        elif create and item_type is not None:
            # an item's creation without a payload schema: the data schema checks it
            payload_fields = self.item_fields.get(item_type)
        guard = data.get("guard")
        if isinstance(guard, str):
            self.check_cel(origin, ("guard",), guard, payload=payload_fields, item_type=item_type)
        self.check_writes(origin, data.get("writes"), payload_fields, item_type=item_type)
        if isinstance(payload, dict):
            target_schema = None
            if item_type is not None:
                target_schema = as_dict(self.item_data(item_type).get("schema"))
            self.check_write_types(origin, data.get("writes"), payload, target_schema=target_schema)
        if item_type is None:
            fields, what = self.case_fields, "case field '{}' that case_schema does not declare"
        else:
            fields = self.item_fields.get(item_type)
            what = f"item data field '{{}}' that the schema of item type '{item_type}' lacks"
        for field, expr in as_dict(data.get("set")).items():
            if fields is not None and field not in fields:
                self.add(
                    origin,
                    ("set", field),
                    "'set' names " + what.format(field),
                    "unknown-set-field",
                    key=True,
                    hint=did_you_mean(field, fields),
                )
            if isinstance(expr, str):
                self.check_cel(
                    origin, ("set", field), expr, payload=payload_fields, item_type=item_type
                )


def _item_action_names(items: dict[str, Any]) -> set[str]:
    """Actions an item queues (creation, item transitions, item states' on_enter/on_exit):
    their arguments may read ``item``."""
    names: set[str] = set()
    for raw in items.values():
        item = as_dict(raw)
        names.update(str_list(as_dict(item.get("create")).get("actions")))
        for sdata in as_dict(item.get("states")).values():
            state = as_dict(sdata)
            names.update(str_list(state.get("on_enter")))
            names.update(str_list(state.get("on_exit")))
            for t in as_list(state.get("transitions")):
                names.update(str_list(as_dict(t).get("actions")))
    return names


@lru_cache(maxsize=1024)
def _schema_problem(schema_json: str) -> tuple[tuple[str | int, ...], str, bool] | None:
    """Check a JSON Schema once per distinct text: (path, message, is container) or None."""
    schema = json.loads(schema_json)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return tuple(exc.path), exc.message, isinstance(exc.instance, dict | list)
    return None
