"""Migration plans: how running cases move from one version of a workflow to another.

A plan is a small YAML file (read with the same safe, located reader as the
workflows), checked against both definitions before any case is touched;
every finding is a :class:`~engine.definitions.diagnostics.Diagnostic` with
``file:LINE:COL``::

    workflow: outreach
    from_version: 1
    to_version: 2
    states:                        # v1 state -> v2 state; unlisted states keep their name
      assessing: evaluating
      monitoring: {to: monitoring, when: 'has(case.risk_level)'}   # a guard per state
    record:
      set:                         # CEL over the v1 record (case), params of v2, now
        consent_on_file: 'false'
      remove: [legacy_code]
    timers:                        # the case's armed state timers, by name
      assessment_due: recompute    # keep | recompute | cancel
    clocks:                        # its case clocks, by name
      annual_reassessment: keep
    items:                         # work items: v1 type -> v2 type, item states renamed
      referral: {to: referral, states: {waitlisted: pending}}

Items of a type ``items:`` does not list keep their type (and each its state's name);
a case holding an item v2 cannot place (its type or state is not in v2, its data
breaks the v2 type's schema) cannot move, with the item named. Item timers and item
clocks follow ``timers:`` and ``clocks:`` by name like the case's own.

Refused (``migrate plan``): an unknown state (item type, item state) on either
side, a v1 state with no counterpart, a target state that is final or from
which the case could never close, a required v2 field the moved record would
lack (or that the plan removes), a CEL expression that does not compile, an
unknown timer or clock, a ``keep`` or ``recompute`` for a timer or clock v2 does
not have, an item state mapped across the open/closed line.

Nothing here knows about cases: :mod:`engine.runtime.migration` applies a plan.
"""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from engine.definitions.assemble import did_you_mean
from engine.definitions.diagnostics import Diagnostic
from engine.definitions.expressions import ExpressionError, compile_expression
from engine.definitions.model import WorkflowDefinition
from engine.definitions.yaml_document import JsonPath, YamlDocument
from engine.definitions.yaml_reader import read_file
from engine.errors import DefinitionError

__all__ = [
    "ItemMove",
    "MigrationPlan",
    "StateMove",
    "TimerPolicy",
    "check_plan",
    "read_plan",
]

_TOP_KEYS = (
    "workflow",
    "from_version",
    "to_version",
    "description",
    "states",
    "record",
    "timers",
    "clocks",
    "items",
)


class TimerPolicy(StrEnum):
    """What a migration does with one armed timer or running clock of a case."""

    KEEP = "keep"  #: the armed row stays as it is (due where it was)
    RECOMPUTE = "recompute"  #: v2's rule, counted from the same start (state entry, anchor)
    CANCEL = "cancel"  #: disarmed (a v2 rule, if any, is not armed for this entry)


@dataclass(frozen=True, slots=True)
class StateMove:
    """Where the cases of one v1 state go."""

    source: str
    target: str
    when: str | None = None  # CEL over the v1 record: false -> the case cannot move


@dataclass(frozen=True, slots=True)
class ItemMove:
    """Where the items of one v1 item type go (``items:`` of a plan)."""

    source: str
    target: str
    states: tuple[tuple[str, str], ...] = ()  # (v1 item state, v2 item state); others keep

    def state(self, name: str) -> str:
        return dict(self.states).get(name, name)


@dataclass(frozen=True, slots=True)
class MigrationPlan:
    """A checked plan (:func:`check_plan`): every non-final v1 state has its move."""

    workflow: str
    from_version: int
    to_version: int
    states: dict[str, StateMove]
    sets: tuple[tuple[str, str], ...] = ()  # (v2 field, CEL over the v1 record)
    removes: tuple[str, ...] = ()
    timers: dict[str, TimerPolicy] = field(default_factory=dict)  # as written (others default)
    clocks: dict[str, TimerPolicy] = field(default_factory=dict)
    items: dict[str, ItemMove] = field(default_factory=dict)  # by v1 item type, as written
    description: str = ""
    source_path: str = ""
    content_hash: str = ""  # sha256 of the plan's text: names the plan in history rows

    def timer_policy(self, name: str, target_has_it: bool) -> TimerPolicy:
        """The policy for an armed state timer: as written, else recompute when the
        target state has a timer of that name, else cancel."""
        written = self.timers.get(name)
        if written is not None:
            return written
        return TimerPolicy.RECOMPUTE if target_has_it else TimerPolicy.CANCEL

    def clock_policy(self, name: str, v2_has_it: bool) -> TimerPolicy:
        """The policy for a running clock: as written, else keep when v2 declares a
        clock of that name, else cancel."""
        written = self.clocks.get(name)
        if written is not None:
            return written
        return TimerPolicy.KEEP if v2_has_it else TimerPolicy.CANCEL

    def item_place(self, item_type: str, state: str) -> tuple[str, str]:
        """(v2 type, v2 state) of a v1 item: as mapped under ``items:``, else unchanged."""
        move = self.items.get(item_type)
        if move is None:
            return item_type, state
        return move.target, move.state(state)


@dataclass
class _Reader:
    doc: YamlDocument
    out: list[Diagnostic] = field(default_factory=list)

    def error(
        self, path: JsonPath, message: str, code: str, *, key: bool = False, hint: str | None = None
    ) -> None:
        self.out.append(self.doc.diagnostic(path, message, code, key=key, hint=hint))


def read_plan(path: str | Path) -> tuple[YamlDocument, dict[str, Any]]:
    """The plan's located document and its top-level mapping. Raises DefinitionError
    (YamlError) when the file cannot be read as a YAML mapping."""
    doc = read_file(path)
    return doc, doc.data


def plan_target(path: str | Path) -> tuple[str, int, int]:
    """(workflow, from_version, to_version) as the plan names them, before any check, so a
    caller can find both definitions. Raises DefinitionError (located) when they are not
    a name and two integers."""
    doc, data = read_plan(path)
    r = _Reader(doc)
    name = data.get("workflow")
    if not isinstance(name, str) or not name:
        r.error(("workflow",), "a plan names its workflow (workflow: NAME)", "plan-invalid")
    versions: list[int] = []
    for k in ("from_version", "to_version"):
        v = data.get(k)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            r.error((k,), f"{k} must be a positive integer", "plan-invalid")
            v = 0
        versions.append(v)
    if r.out:
        raise DefinitionError(r.out, _message(r.out, doc.file))
    assert isinstance(name, str)
    return name, versions[0], versions[1]


def check_plan(path: str | Path, v1: WorkflowDefinition, v2: WorkflowDefinition) -> MigrationPlan:
    """Read and check a plan against both versions; the plan, or DefinitionError with
    every finding (``file:LINE:COL: $.path: message``)."""
    doc, data = read_plan(path)
    r = _Reader(doc)
    for k in data:
        if k not in _TOP_KEYS:
            r.error(
                (k,),
                f"unknown key '{k}'",
                "plan-invalid",
                key=True,
                hint=did_you_mean(str(k), _TOP_KEYS),
            )
    if data.get("workflow") != v1.name or v1.name != v2.name:
        r.error(("workflow",), f"the plan is for workflow '{v1.name}'", "plan-invalid")
    if data.get("from_version") != v1.version:
        r.error(("from_version",), f"expected {v1.version}", "plan-invalid")
    if data.get("to_version") != v2.version:
        r.error(("to_version",), f"expected {v2.version}", "plan-invalid")
    if v1.version == v2.version:
        r.error(("to_version",), "from_version and to_version are the same", "plan-invalid")
    states = _states(r, data.get("states"), v1, v2)
    sets, removes = _record(r, data.get("record"), v1, v2)
    timers = _policies(r, "timers", data.get("timers"), _timer_names(v1) | _item_timers(v1))
    clocks = _policies(
        r, "clocks", data.get("clocks"), {c.name for c in v1.clocks} | _item_clocks(v1)
    )
    items = _items(r, data.get("items"), v1, v2)
    _check_timers(r, timers, states, v1, v2)
    for name, policy in clocks.items():
        if policy is not TimerPolicy.CANCEL and name in _item_clocks(v1):
            if name not in _item_clocks(v2):
                r.error(
                    ("clocks", name),
                    f"v{v2.version} declares no item clock '{name}' to {policy.value}: cancel it",
                    "plan-unknown-clock",
                )
            continue
        if policy is not TimerPolicy.CANCEL and v2.clock(name) is None:
            r.error(
                ("clocks", name),
                f"v{v2.version} declares no clock '{name}' to {policy.value}: cancel it",
                "plan-unknown-clock",
            )
    if r.out:
        r.out.sort(key=lambda d: d.sort_key)
        raise DefinitionError(r.out, _message(r.out, doc.file))
    description = data.get("description")
    return MigrationPlan(
        workflow=v1.name,
        from_version=v1.version,
        to_version=v2.version,
        states=states,
        sets=sets,
        removes=removes,
        timers=timers,
        clocks=clocks,
        items=items,
        description=description if isinstance(description, str) else "",
        source_path=doc.file,
        content_hash=hashlib.sha256(doc.text.encode()).hexdigest(),
    )


def _message(found: list[Diagnostic], file: str) -> str:
    shown = "\n".join(str(d) for d in found[:20])
    more = f"\n... and {len(found) - 20} more" if len(found) > 20 else ""
    return f"{len(found)} error(s) in migration plan {file}:\n{shown}{more}"


def _timer_names(d: WorkflowDefinition) -> set[str]:
    return {t.name for s in d.states.values() for t in s.timers}


def _item_timers(d: WorkflowDefinition) -> set[str]:
    return {t.name for it in d.item_types.values() for s in it.states.values() for t in s.timers}


def _item_clocks(d: WorkflowDefinition) -> set[str]:
    return {c.name for it in d.item_types.values() for c in it.clocks}


def _items(
    r: _Reader, raw: Any, v1: WorkflowDefinition, v2: WorkflowDefinition
) -> dict[str, ItemMove]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        r.error(("items",), "items: a mapping of v1 item type to {to, states}", "plan-invalid")
        return {}
    out: dict[str, ItemMove] = {}
    for src, value in raw.items():
        path: JsonPath = ("items", src)
        it1 = v1.item_type(str(src))
        if it1 is None:
            r.error(
                path,
                f"unknown item type '{src}' of v{v1.version}",
                "plan-unknown-item-type",
                key=True,
                hint=did_you_mean(str(src), v1.item_types),
            )
            continue
        if isinstance(value, str):
            value = {"to": value}
        if not isinstance(value, dict) or not isinstance(value.get("to"), str):
            r.error(path, "{to: a v2 item type, states: {v1 state: v2 state}}", "plan-invalid")
            continue
        for k in value:
            if k not in ("to", "states"):
                r.error((*path, k), f"unknown key '{k}' (to, states)", "plan-invalid", key=True)
        it2 = v2.item_type(value["to"])
        if it2 is None:
            r.error(
                (*path, "to"),
                f"unknown item type '{value['to']}' of v{v2.version}",
                "plan-unknown-item-type",
                hint=did_you_mean(value["to"], v2.item_types),
            )
            continue
        states_raw = value.get("states") or {}
        if not isinstance(states_raw, dict):
            r.error((*path, "states"), "states: v1 item state -> v2 item state", "plan-invalid")
            states_raw = {}
        states: list[tuple[str, str]] = []
        for old, new in states_raw.items():
            spath: JsonPath = (*path, "states", old)
            if old not in it1.states:
                r.error(
                    spath,
                    f"unknown state '{old}' of item type '{src}' (v{v1.version})",
                    "plan-unknown-item-state",
                    key=True,
                    hint=did_you_mean(str(old), it1.states),
                )
            elif not isinstance(new, str) or new not in it2.states:
                r.error(
                    spath,
                    f"unknown state '{new}' of item type '{it2.name}' (v{v2.version})",
                    "plan-unknown-item-state",
                    hint=did_you_mean(str(new), it2.states),
                )
            elif it1.states[old].final != it2.states[new].final:
                r.error(
                    spath,
                    f"'{old}' -> '{new}': a migration neither closes nor reopens an item",
                    "plan-final-state",
                )
            else:
                states.append((str(old), new))
        out[str(src)] = ItemMove(str(src), it2.name, tuple(states))
    return out


def _can_close(d: WorkflowDefinition) -> set[str]:
    """States from which a final state can be reached without ``@previous``."""
    reverse: dict[str, set[str]] = {n: set() for n in d.states}
    for t in d.transitions:
        if t.target is not None and t.target in d.states:
            reverse[t.target].add(t.source)
    seen = {n for n, s in d.states.items() if s.final}
    queue = deque(seen)
    while queue:
        for src in reverse.get(queue.popleft(), ()):
            if src not in seen:
                seen.add(src)
                queue.append(src)
    return seen


def _states(
    r: _Reader, raw: Any, v1: WorkflowDefinition, v2: WorkflowDefinition
) -> dict[str, StateMove]:
    if raw is not None and not isinstance(raw, dict):
        r.error(("states",), "states: a mapping of v1 state to v2 state", "plan-invalid")
        raw = {}
    raw = raw or {}
    can_close = _can_close(v2)
    moves: dict[str, StateMove] = {}
    for src, value in raw.items():
        path: JsonPath = ("states", src)
        if src not in v1.states:
            r.error(
                path,
                f"unknown state '{src}' of {v1.name} v{v1.version}",
                "plan-unknown-state",
                key=True,
                hint=did_you_mean(str(src), v1.states),
            )
            continue
        if v1.states[src].final:
            r.error(
                path,
                f"'{src}' is final in v{v1.version}: closed cases are not migrated",
                "plan-final-state",
                key=True,
            )
            continue
        when = None
        target_path = path
        if isinstance(value, dict):
            target = value.get("to")
            target_path = (*path, "to")
            when = value.get("when")
            for k in value:
                if k not in ("to", "when"):
                    r.error((*path, k), f"unknown key '{k}' (to, when)", "plan-invalid", key=True)
            if when is not None:
                if not isinstance(when, str):
                    r.error((*path, "when"), "when: a CEL expression", "plan-invalid")
                    when = None
                else:
                    try:
                        compile_expression(when)
                    except ExpressionError as exc:
                        r.error((*path, "when"), str(exc), "plan-invalid-expression")
        else:
            target = value
        if not isinstance(target, str):
            r.error(target_path, "the target: a v2 state name", "plan-invalid")
            continue
        moves[src] = StateMove(src, target, when)
    for name, state in v1.states.items():
        if state.final or name in moves or name in raw:
            continue
        if name in v2.states:
            moves[name] = StateMove(name, name)
        else:
            r.error(
                ("states",) if "states" in r.doc.data else (),
                f"state '{name}' of v{v1.version} has no state of that name in "
                f"v{v2.version}: map it under states",
                "plan-unmapped-state",
                key=True,
                hint=did_you_mean(name, v2.states),
            )
    for move in list(moves.values()):
        src_path: JsonPath = ("states", move.source)
        written = move.source in raw
        tpath: JsonPath = (*src_path, "to") if isinstance(raw.get(move.source), dict) else src_path
        at = tpath if written else ("states",)
        target = v2.states.get(move.target)
        if target is None:
            r.error(
                at,
                f"unknown state '{move.target}' of {v2.name} v{v2.version}",
                "plan-unknown-state",
                hint=did_you_mean(move.target, v2.states),
            )
            del moves[move.source]
            continue
        if target.final:
            r.error(
                at,
                f"'{move.target}' is final in v{v2.version}: a migration does not close cases",
                "plan-final-state",
            )
            continue
        if move.target in can_close:
            continue
        returns = any(t.returns_to_previous for t in v2.transitions_from(move.target))
        if target.hold and returns and v1.states[move.source].hold:
            continue  # back to the previous state (mapped too), which can close
        why = (
            "a case moved there has no state to return to"
            if target.hold and returns
            else "no final state can be reached from it"
        )
        r.error(
            at,
            f"'{move.source}' -> '{move.target}': no way to closure in v{v2.version} ({why})",
            "plan-cannot-close",
        )
    return moves


def _record(
    r: _Reader, raw: Any, v1: WorkflowDefinition, v2: WorkflowDefinition
) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        r.error(("record",), "record: a mapping with set and remove", "plan-invalid")
        raw = {}
    for k in raw:
        if k not in ("set", "remove"):
            r.error(("record", k), f"unknown key '{k}' (set, remove)", "plan-invalid", key=True)
    sets: list[tuple[str, str]] = []
    set_raw = raw.get("set") or {}
    if not isinstance(set_raw, dict):
        r.error(("record", "set"), "set: a mapping of field to CEL expression", "plan-invalid")
        set_raw = {}
    for name, source in set_raw.items():
        if not isinstance(source, str):
            r.error(
                ("record", "set", name),
                "a CEL expression (quote literals: 'false')",
                "plan-invalid",
            )
            continue
        try:
            compile_expression(source)
        except ExpressionError as exc:
            r.error(("record", "set", name), str(exc), "plan-invalid-expression")
            continue
        sets.append((str(name), source))
    removes: list[str] = []
    rm_raw = raw.get("remove") or []
    if not isinstance(rm_raw, list):
        r.error(("record", "remove"), "remove: a list of field names", "plan-invalid")
        rm_raw = []
    required2 = _required(v2)
    defaults2 = _defaults(v2)
    set_names = {str(n) for n in set_raw}  # a bad expression is reported once, above
    for i, name in enumerate(rm_raw):
        if not isinstance(name, str):
            r.error(("record", "remove", i), "a field name", "plan-invalid")
            continue
        if name in required2 and name not in set_names:
            r.error(
                ("record", "remove", i),
                f"field '{name}' is required in v{v2.version}: the plan drops a required field",
                "plan-drops-required",
            )
        removes.append(name)
    required1 = _required(v1)
    for name in sorted(required2):
        if name in set_names or name in defaults2 or name in removes:
            continue
        if name not in required1:
            r.error(
                ("record",) if "record" in r.doc.data else (),
                f"field '{name}' is required in v{v2.version} but not in v{v1.version}, "
                "and the plan does not set it (record: set:)",
                "plan-drops-required",
                key=True,
            )
    return tuple(sets), tuple(removes)


def _required(d: WorkflowDefinition) -> set[str]:
    req = d.case_schema.get("required")
    return {str(x) for x in req} if isinstance(req, list) else set()


def _defaults(d: WorkflowDefinition) -> set[str]:
    props = d.case_schema.get("properties")
    if not isinstance(props, dict):
        return set()
    return {k for k, v in props.items() if isinstance(v, dict) and "default" in v}


def _policies(r: _Reader, key: str, raw: Any, known: set[str]) -> dict[str, TimerPolicy]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        r.error((key,), f"{key}: a mapping of name to keep, recompute or cancel", "plan-invalid")
        return {}
    out: dict[str, TimerPolicy] = {}
    what = "timer" if key == "timers" else "clock"
    for name, value in raw.items():
        if name not in known:
            r.error(
                (key, name),
                f"unknown {what} '{name}' of v1",
                f"plan-unknown-{what}",
                key=True,
                hint=did_you_mean(str(name), known),
            )
            continue
        try:
            out[str(name)] = TimerPolicy(value)
        except ValueError:
            r.error((key, name), "keep, recompute or cancel", "plan-invalid")
    return out


def _check_timers(
    r: _Reader,
    timers: dict[str, TimerPolicy],
    states: dict[str, StateMove],
    v1: WorkflowDefinition,
    v2: WorkflowDefinition,
) -> None:
    for name, policy in timers.items():
        if policy is TimerPolicy.CANCEL:
            continue
        if name in _item_timers(v1) and name not in _item_timers(v2):
            r.error(
                ("timers", name),
                f"no item state of v{v2.version} has a timer '{name}' to {policy.value}: cancel it",
                "plan-unknown-timer",
            )
        for move in states.values():
            if name not in {t.name for t in v1.states[move.source].timers}:
                continue
            target = v2.states.get(move.target)
            if target is not None and name not in {t.name for t in target.timers}:
                r.error(
                    ("timers", name),
                    f"'{move.target}' of v{v2.version} has no timer "
                    f"'{name}' to {policy.value} (cases of '{move.source}' have it): "
                    "cancel it",
                    "plan-unknown-timer",
                )
