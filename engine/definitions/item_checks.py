"""Static checks of work item types (the ``items:`` map).

A mixin of the static checker (:mod:`checks`), like :mod:`field_checks`.
Codes: invalid-item-schema, item-initial-missing, unknown-item-state,
unreachable-item-state, item-event-never-sent (warning), case-event-unhandled
(warning), plus the codes shared with case states and transitions
(unknown-state for ``create.in``, final-has-transitions, final-has-timers,
timer-event-unhandled, duplicate-timer, duplicate-clock, clock-event-unhandled,
transition-target, unknown-role, unknown-write-field, unknown-set-field,
invalid-payload-schema, invalid-duration, param-type, unknown-param, cel-*);
``unknown-item-type`` and ``unknown-item-field`` come from the CEL checks in
:mod:`field_checks`.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from engine.definitions.assemble import (
    Assembled,
    Origin,
    RawTransition,
    as_dict,
    as_list,
    as_str,
    did_you_mean,
    str_list,
)
from engine.definitions.item_build import item_transitions


class ItemChecks:
    asm: Assembled
    item_fields: dict[str, set[str] | None]

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

    def check_json_schema(
        self, origin: Origin, schema: dict[str, Any], code: str, what: str
    ) -> None:
        raise NotImplementedError  # provided by the checker

    def check_roles(self, origin: Origin, roles: Any) -> None:
        raise NotImplementedError  # provided by the checker

    def check_transition_body(
        self,
        origin: Origin,
        data: dict[str, Any],
        *,
        item_type: str | None = None,
        create: bool = False,
    ) -> None:
        raise NotImplementedError  # provided by the checker

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
        raise NotImplementedError  # provided by the checker

    def check_timing(
        self, origin: Origin, timer: dict[str, Any], *, item_type: str | None = None
    ) -> None:
        raise NotImplementedError  # provided by the checker

    # -- the map ---------------------------------------------------------------------

    def item_data(self, name: str) -> dict[str, Any]:
        """The raw declaration of item type ``name`` ({} when absent)."""
        return as_dict(as_dict(self.asm.data.get("items")).get(name))

    def check_items(self) -> None:
        for name, raw in as_dict(self.asm.data.get("items")).items():
            if isinstance(raw, dict):
                self._check_item_type(name, raw, self.asm.origin("items", name))

    def _check_item_type(self, name: str, data: dict[str, Any], origin: Origin) -> None:
        schema = data.get("schema")
        if isinstance(schema, dict):
            self.check_json_schema(
                origin.child("schema"), schema, "invalid-item-schema", f"the schema of '{name}'"
            )
            declared = schema.get("type")
            if declared is not None and declared != "object":
                self.add(
                    origin,
                    ("schema", "type"),
                    f"the data of item type '{name}' must be an object (type: object), "
                    f"not {declared!r}",
                    "invalid-item-schema",
                )
        states = as_dict(data.get("states"))
        initial = as_str(data.get("initial"))
        if initial is not None and states and initial not in states:
            self.add(
                origin,
                ("initial",),
                f"initial state '{initial}' is not a state of item type '{name}'",
                "item-initial-missing",
                hint=did_you_mean(initial, states),
            )
        transitions = item_transitions(origin, data)
        self._check_create(name, as_dict(data.get("create")), origin.child("create"))
        for sname, sdata in states.items():
            sdata = as_dict(sdata)
            handled = {t.event for t in transitions if t.source == sname and t.event}
            self.check_timer_entries(
                origin.child("states", sname),
                sdata,
                handled,
                state=f"item state '{sname}' of '{name}'",
                final=sdata.get("final") is True,
                item_type=name,
            )
        for t in transitions:
            self._check_item_transition(name, states, t)
        self._check_item_clocks(name, data, origin, states, transitions)
        self._check_item_graph(name, origin, states, initial, transitions)
        self._check_item_events_sent(name, data, transitions)

    # -- creation ----------------------------------------------------------------------

    def _check_create(self, name: str, create: dict[str, Any], origin: Origin) -> None:
        case_states = self.asm.states
        for j, state in enumerate(as_list(create.get("in"))):
            if isinstance(state, str) and state not in case_states:
                self.add(
                    origin,
                    ("in", j),
                    f"unknown case state '{state}': items of type '{name}' are added in "
                    "states of the case",
                    "unknown-state",
                    hint=did_you_mean(state, case_states),
                )
        self.check_transition_body(origin, create, item_type=name, create=True)
        self._check_case_event(origin, create.get("case_event"))

    # -- transitions -------------------------------------------------------------------

    def _check_item_transition(self, name: str, states: dict[str, Any], t: RawTransition) -> None:
        data, origin = t.data, t.origin
        if as_dict(states.get(t.source)).get("final") is True:
            self.add(
                origin,
                (),
                f"final item state '{t.source}' of '{name}' must not have transitions: "
                "the item is closed there",
                "final-has-transitions",
                key=True,
            )
        has_target = "target" in data and data["target"] is not None
        if data.get("internal") is True and has_target:
            self.add(
                origin,
                ("internal",),
                "a transition has either a target or internal: true, not both",
                "transition-target",
            )
        target = t.target
        if target is not None and target not in states:
            self.add(
                origin,
                ("target",),
                f"unknown target state '{target}' of item type '{name}'",
                "unknown-item-state",
                hint=did_you_mean(target, states),
            )
        self.check_transition_body(origin, data, item_type=name)
        self._check_case_event(origin, data.get("case_event"))

    def _check_case_event(self, origin: Origin, event: Any) -> None:
        """Warn when no case transition handles an item's ``case_event``: it is then
        always ignored (an item's case event that no state accepts is a no-op)."""
        if not isinstance(event, str):
            return
        handled = {t.event for t in self.asm.transitions if t.event is not None}
        if event not in handled:
            self.add(
                origin,
                ("case_event",),
                f"no case transition handles event '{event}': sending it to the case "
                "never does anything",
                "case-event-unhandled",
                severity="warning",
                hint=did_you_mean(event, handled),
            )

    # -- clocks ------------------------------------------------------------------------

    def _check_item_clocks(
        self,
        name: str,
        data: dict[str, Any],
        origin: Origin,
        states: dict[str, Any],
        transitions: list[RawTransition],
    ) -> None:
        seen: set[str] = set()
        for i, clock in enumerate(as_list(data.get("clocks"))):
            if not isinstance(clock, dict):
                continue
            corigin = origin.child("clocks", i)
            cname = as_str(clock.get("name"))
            if cname is not None:
                if cname in seen:
                    self.add(
                        corigin,
                        ("name",),
                        f"clock '{cname}' is defined twice in item type '{name}'",
                        "duplicate-clock",
                    )
                seen.add(cname)
            event = as_str(clock.get("event"))
            missing: list[str] = []
            for j, state in enumerate(as_list(clock.get("states"))):
                if not isinstance(state, str):
                    continue
                if state not in states:
                    self.add(
                        corigin,
                        ("states", j),
                        f"unknown state '{state}' of item type '{name}'",
                        "unknown-item-state",
                        hint=did_you_mean(state, states),
                    )
                elif event is not None and not any(
                    t.source == state and t.event == event for t in transitions
                ):
                    missing.append(state)
            if missing:
                shown = ", ".join(f"'{s}'" for s in missing)
                self.add(
                    corigin,
                    ("event",),
                    f"item clock '{cname}' can fire in {shown}, where no transition of "
                    f"'{name}' handles its event '{event}'",
                    "clock-event-unhandled",
                )
            self.check_timing(corigin, clock, item_type=name)

    # -- the lifecycle -------------------------------------------------------------------

    def _check_item_graph(
        self,
        name: str,
        origin: Origin,
        states: dict[str, Any],
        initial: str | None,
        transitions: list[RawTransition],
    ) -> None:
        if initial is None or initial not in states:
            return
        if any(t.target is not None and t.target not in states for t in transitions):
            return  # unknown-item-state said so; the graph would only list consequences
        edges: dict[str, set[str]] = {}
        for t in transitions:
            if t.target is not None:
                edges.setdefault(t.source, set()).add(t.target)
        reached = {initial}
        queue = deque([initial])
        while queue:
            for nxt in edges.get(queue.popleft(), ()):
                if nxt not in reached:
                    reached.add(nxt)
                    queue.append(nxt)
        for sname in states:
            if sname not in reached:
                self.add(
                    origin.child("states", sname),
                    (),
                    f"item state '{sname}' of '{name}' is unreachable from its initial "
                    f"state '{initial}'",
                    "unreachable-item-state",
                    key=True,
                )

    def _check_item_events_sent(
        self, name: str, data: dict[str, Any], transitions: list[RawTransition]
    ) -> None:
        """Warn about an item event no role may send and no timer or clock of the item
        sends: its transitions can never be taken."""
        sent: set[str] = set()
        for sdata in as_dict(data.get("states")).values():
            for timer in as_list(as_dict(sdata).get("timers")):
                sent.update(str_list([as_dict(timer).get("event")]))
        for clock in as_list(data.get("clocks")):
            sent.update(str_list([as_dict(clock).get("event")]))
        by_role = {t.event for t in transitions if str_list(t.data.get("roles"))}
        reported: set[str] = set()
        for t in transitions:
            event = t.event
            if event is None or event in sent or event in by_role or event in reported:
                continue
            reported.add(event)
            self.add(
                t.origin,
                ("event",),
                f"item event '{event}' of '{name}' lists no roles and no timer or clock of "
                "the item sends it: nobody can send it",
                "item-event-never-sent",
                severity="warning",
                hint="add roles: [...] to a transition handling it, or a timer sending it",
            )
