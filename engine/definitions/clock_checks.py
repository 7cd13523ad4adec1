"""Static checks of case clocks, named calendars and event payloads.

A mixin of the static checker (:mod:`checks`), like :mod:`field_checks`.
Codes: duplicate-clock, clock-duration, clock-reset-on, unknown-event,
clock-event-unhandled, clock-never-starts, clock-never-stops,
clock-anchor-type, unknown-calendar (and unknown-state, unknown-case-field,
invalid-calendar, invalid-duration, param-type shared with the other checks);
warnings: payload-missing (an event that carries data without a payload
schema) and payload-field-unused (a payload field never written to the record).
"""

from __future__ import annotations

from typing import Any

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
from engine.definitions.durations import is_duration_syntax
from engine.definitions.expressions import ExpressionError, field_references
from engine.definitions.resolve import Problem, resolve_business_days, resolve_duration

_DEADLINE_PARTS = ("after", "business_days", "every")
_WATCHDOG_PARTS = ("within", "business_days")
_INSTANT_FORMATS = {"date", "date-time"}


class ClockChecks:
    asm: Assembled
    case_fields: set[str] | None

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
        raise NotImplementedError  # provided by the checker

    def problem(self, origin: Origin, sub: tuple[str | int, ...], p: Problem | None) -> None:
        raise NotImplementedError  # provided by the checker

    def check_cel(
        self,
        origin: Origin,
        sub: tuple[str | int, ...],
        source: str,
        *,
        payload: set[str] | None,
        allow_event: bool = True,
        item_type: str | None = None,
        item_allowed: bool = False,
    ) -> None:
        raise NotImplementedError  # provided by FieldChecks

    def check_calendar_at(self, origin: Origin, cal: dict[str, Any]) -> None:
        raise NotImplementedError  # provided by the checker

    # -- calendars -------------------------------------------------------------------

    def check_named_calendars(self) -> None:
        for name, cal in as_dict(self.asm.data.get("calendars")).items():
            if isinstance(cal, dict) and isinstance(cal.get("country", "US"), str):
                self.check_calendar_at(self.asm.origin("calendars", name), cal)

    def check_calendar_name(self, origin: Origin, value: Any) -> None:
        if not isinstance(value, str):
            return
        known = as_dict(self.asm.data.get("calendars"))
        if value not in known:
            self.add(
                origin,
                ("calendar",),
                f"calendar '{value}' is not declared under calendars",
                "unknown-calendar",
                hint=did_you_mean(value, known) if known else "declare it under calendars",
            )

    # -- clocks ----------------------------------------------------------------------

    def check_clocks(self) -> None:
        seen: set[str] = set()
        for i, clock in enumerate(as_list(self.asm.data.get("clocks"))):
            if not isinstance(clock, dict):
                continue
            origin = self.asm.origin("clocks", i)
            name = as_str(clock.get("name"))
            if name is not None:
                if name in seen:
                    self.add(
                        origin, ("name",), f"clock '{name}' is defined twice", "duplicate-clock"
                    )
                seen.add(name)
            self._check_clock(origin, clock, name or f"#{i}")

    def _check_clock(self, origin: Origin, clock: dict[str, Any], name: str) -> None:
        watchdog = clock.get("kind") == "watchdog"
        parts = _WATCHDOG_PARTS if watchdog else _DEADLINE_PARTS
        others = _DEADLINE_PARTS if watchdog else _WATCHDOG_PARTS
        given = [p for p in parts if p in clock]
        kind = "a watchdog" if watchdog else "a deadline clock"
        if len(given) != 1:
            self.add(
                origin,
                (),
                f"{kind} needs exactly one of {', '.join(parts)}"
                + (f"; it has {', '.join(given)}" if given else ""),
                "clock-duration",
                key=True,
            )
        for part in others:
            if part in clock and part not in parts:
                self.add(
                    origin,
                    (part,),
                    f"'{part}' is not for {kind} (use {' or '.join(parts)})",
                    "clock-duration",
                    key=True,
                )
        for part in ("after", "every", "within"):
            raw = clock.get(part)
            if isinstance(raw, str) and (raw.startswith("$") or is_duration_syntax(raw)):
                self.problem(origin, (part,), resolve_duration(self.asm, raw)[1])
        if "business_days" in clock:
            self.problem(
                origin,
                ("business_days",),
                resolve_business_days(self.asm, clock["business_days"])[1],
            )
        if "calendar" in clock:
            self.check_calendar_name(origin, clock.get("calendar"))
        reset_on = clock.get("reset_on")
        if watchdog and not str_list(reset_on):
            self.add(
                origin,
                (),
                "a watchdog needs reset_on: the events that show the required activity happened",
                "clock-reset-on",
                key=True,
            )
        elif not watchdog and reset_on is not None:
            self.add(
                origin,
                ("reset_on",),
                "reset_on is only for watchdogs (kind: watchdog); a deadline restarts on start",
                "clock-reset-on",
                key=True,
            )
        self._check_events(origin, ("reset_on",), reset_on)
        start = as_dict(clock.get("start"))
        stop = as_dict(clock.get("stop"))
        for key, triggers in (("start", start), ("stop", stop)):
            self._check_events(origin, (key, "events"), triggers.get("events"))
            for j, state in enumerate(as_list(triggers.get("states"))):
                if isinstance(state, str) and state not in self.asm.states:
                    self.add(
                        origin,
                        (key, "states", j),
                        f"unknown state '{state}'",
                        "unknown-state",
                        hint=did_you_mean(state, self.asm.states),
                    )
        field = as_str(start.get("field"))
        if field is not None and self.case_fields is not None and field not in self.case_fields:
            self.add(
                origin,
                ("start", "field"),
                f"start field '{field}' is not a field of case_schema",
                "unknown-case-field",
                hint=did_you_mean(field, self.case_fields),
            )
        when = stop.get("when")
        if isinstance(when, str):
            self.check_cel(origin, ("stop", "when"), when, payload=None, allow_event=False)
        anchor = clock.get("anchor")
        if isinstance(anchor, str):
            self.check_cel(origin, ("anchor",), anchor, payload=None, allow_event=False)
            self._check_anchor_type(origin, anchor)
        self._check_reach(origin, clock, name, start, stop, watchdog)

    def _check_events(self, origin: Origin, sub: tuple[str | int, ...], events: Any) -> None:
        known = {t.event for t in self.asm.transitions if t.event is not None}
        for j, event in enumerate(as_list(events)):
            if isinstance(event, str) and event not in known:
                self.add(
                    origin,
                    (*sub, j),
                    f"no transition handles event '{event}': it can never happen",
                    "unknown-event",
                    hint=did_you_mean(event, known),
                )

    def _check_anchor_type(self, origin: Origin, anchor: str) -> None:
        """``anchor: case.x`` must read a date or date-time string field of case_schema."""
        try:
            refs = field_references(anchor)
        except ExpressionError:  # pragma: no cover - check_cel reported it
            return
        text = anchor.strip()
        if len(refs) != 1 or refs[0].root != "case" or text not in (f"case.{refs[0].name}",):
            return
        props = as_dict(as_dict(self.asm.data.get("case_schema")).get("properties"))
        if refs[0].name not in props:
            return  # unknown-case-field says so
        schema = as_dict(props[refs[0].name])
        types = schema.get("type")
        type_set = {types} if isinstance(types, str) else set(str_list(types))
        fmt = schema.get("format")
        if (
            not type_set <= {"string", "null"}
            or "string" not in type_set
            or (fmt not in _INSTANT_FORMATS)
        ):
            self.add(
                origin,
                ("anchor",),
                f"anchor field '{refs[0].name}' must be a string of format date or date-time "
                "in case_schema",
                "clock-anchor-type",
                hint="declare it as {type: string, format: date} (or date-time)",
            )

    # -- where a clock can run ---------------------------------------------------------

    def _entered_by(self, t: RawTransition) -> str | None:
        if t.internal:
            return t.source
        target = t.target
        if target is None or target == PREVIOUS or target not in self.asm.states:
            return None
        return target

    def _check_reach(
        self,
        origin: Origin,
        clock: dict[str, Any],
        name: str,
        start: dict[str, Any],
        stop: dict[str, Any],
        watchdog: bool,
    ) -> None:
        states = self.asm.states
        start_events = set(str_list(start.get("events")))
        start_states = set(str_list(start.get("states")))
        start_phases = set(str_list(start.get("phases")))
        field = as_str(start.get("field"))
        stop_events = set(str_list(stop.get("events")))
        stop_states = set(str_list(stop.get("states")))
        stop_phases = set(str_list(stop.get("phases")))

        def stopped_in(state: str) -> bool:
            s = states[state]
            return s.final or state in stop_states or s.phase in stop_phases

        seeds: set[str] = {
            n for n, s in states.items() if n in start_states or s.phase in start_phases
        }
        for t in self.asm.transitions:
            entered = self._entered_by(t)
            if entered is None:
                continue
            writes = t.data.get("writes")
            written = set(str_list(writes)) | set(as_dict(writes)) | set(as_dict(t.data.get("set")))
            if t.event in start_events or (field is not None and field in written):
                seeds.add(entered)
        seeds = {s for s in seeds if not stopped_in(s)}
        if not seeds:
            self.add(
                origin,
                ("start",),
                f"clock '{name}' can never start: no transition or state of its start "
                "leads to a state where it could run",
                "clock-never-starts",
            )
            return
        running: set[str] = set()
        frontier = list(seeds)
        can_stop = isinstance(stop.get("when"), str)
        while frontier:
            state = frontier.pop()
            if state in running:
                continue
            running.add(state)
            for t in self.asm.transitions_from(state):
                if t.event in stop_events:
                    can_stop = True
                    continue
                entered = self._entered_by(t)
                if entered is None:
                    continue
                if stopped_in(entered):
                    can_stop = True
                    continue
                frontier.append(entered)
        if not can_stop:
            self.add(
                origin,
                ("stop",) if "stop" in clock else ("name",),
                f"clock '{name}' can never stop: no stop event, stop state or final state "
                "can be reached while it runs",
                "clock-never-stops",
            )
        pausable = clock.get("pausable") is True
        event = as_str(clock.get("event"))
        if event is None:
            return
        missing = [
            s
            for s in states
            if s in running
            and not (pausable and states[s].hold)
            and not any(t.event == event for t in self.asm.transitions_from(s))
        ]
        if missing:
            shown = ", ".join(f"'{s}'" for s in missing[:8])
            more = f" and {len(missing) - 8} more" if len(missing) > 8 else ""
            self.add(
                origin,
                ("event",),
                f"clock '{name}' can fire in {shown}{more}, where no transition handles its "
                f"event '{event}'",
                "clock-event-unhandled",
                hint="handle it once with a shared transition (from: open, internal: true)",
            )

    # -- payloads (warnings) -----------------------------------------------------------

    def check_payload_usage(self) -> None:
        """Warn once per written transition about payload data that goes nowhere."""
        seen: set[tuple[str, Any]] = set()
        for t in self.asm.transitions:
            key = (t.origin.doc.file, t.origin.path)
            if key in seen:
                continue
            seen.add(key)
            data = t.data
            writes = data.get("writes")
            written = set(str_list(writes)) | {
                v for v in as_dict(writes).values() if isinstance(v, str)
            }
            read_in_set: set[str] = set()
            guard = data.get("guard")
            for expr in [*as_dict(data.get("set")).values(), guard]:
                if isinstance(expr, str):
                    try:
                        refs = field_references(expr)
                    except ExpressionError:  # pragma: no cover - check_cel reports it
                        continue
                    read_in_set.update(r.name for r in refs if r.root == "event")
            payload = data.get("payload")
            if not isinstance(payload, dict):
                if written or read_in_set:
                    self.add(
                        t.origin,
                        ("writes",) if written else ("set",),
                        f"event '{t.event}' carries data (writes or event. in set) but "
                        "declares no payload schema: nothing checks what is sent",
                        "payload-missing",
                        severity="warning",
                        hint="add payload: {type: object, properties: ..., required: ...}",
                    )
                continue
            props = as_dict(payload.get("properties"))
            unused = [p for p in props if p not in written and p not in read_in_set]
            for field in unused:
                self.add(
                    t.origin,
                    ("payload", "properties", field),
                    f"payload field '{field}' of event '{t.event}' is never written to the "
                    "case record (not in writes, not read by set or guard): it is accepted "
                    "and dropped",
                    "payload-field-unused",
                    key=True,
                    severity="warning",
                    hint="add it to writes, or remove it from the payload",
                )
