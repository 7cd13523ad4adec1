"""Case continuity: transfers to another workflow and reopening a closed case.

Two top-level declarations of a workflow file (``docs/continuity.md``):

``transfers:``
    An event that closes the case here, in a final state (``target``), and in the same
    transaction opens a *linked* case in another workflow (``to``), in the state the
    declaration names (``entry``), with its record built by one CEL expression per
    target field (``record``) and the case clocks named under ``clocks`` carried with
    their due instants.
``reopen:``
    An event that takes a closed case (one of the final states under ``from``) back to
    an open state (``target``), within a window (``within``: a duration after an
    instant of the record, or after the closure), by the roles it lists.

Each declaration is also an ordinary transition, one per source state, so the
machine checks roles, payload and guard, applies ``writes`` and ``set`` and queues
``actions`` exactly as for any event, and the static checks report its mistakes at
the right line. What is specific (the target workflow, the record mapping, carried
clocks, the window) is kept in the frozen :class:`Transfer` and :class:`Reopening`.
Nothing here knows about the runtime (:mod:`engine.runtime.continuity` runs them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.definitions.assemble import (
    Assembled,
    Origin,
    RawTransition,
    as_dict,
    as_list,
    as_str,
    did_you_mean,
    shared_sources,
    str_list,
)
from engine.definitions.model import Duration, SourceLocation
from engine.definitions.resolve import Problem, resolve_duration

__all__ = [
    "ItemCarry",
    "Reopening",
    "Transfer",
    "build_reopenings",
    "build_transfers",
    "continuity_transitions",
]

#: The keys of a declaration its transition keeps (``record`` and ``within`` only for the
#: payload-usage check: they may read ``event.`` fields; the rest is continuity's).
_TRANSITION_KEYS = (
    "event",
    "guard",
    "roles",
    "payload",
    "writes",
    "set",
    "actions",
    "description",
    "record",
    "within",
)


@dataclass(frozen=True, slots=True)
class ItemCarry:
    """Open work items of one type carried by a transfer (``items:`` of a transfer).

    ``states`` maps a source item state to the target type's state; when empty, an
    item keeps its state's name. An open item whose state has no counterpart is not
    carried (it stays, with the closed source case, where it was)."""

    source_type: str
    target_type: str
    states: tuple[tuple[str, str], ...] = ()  # (source item state, target item state)

    def target_state(self, state: str) -> str | None:
        """The target state for an item in ``state``; None: not carried."""
        if not self.states:
            return state
        return dict(self.states).get(state)


@dataclass(frozen=True, slots=True)
class Transfer:
    """A declared transfer to another workflow (see the module docstring)."""

    event: str
    to_workflow: str
    sources: tuple[str, ...]  # the states it may be sent from
    target: str  # the final state the case closes in here
    entry: str  # the state of ``to_workflow`` the linked case starts in
    record: tuple[tuple[str, str], ...] = ()  # (target field, CEL source), in order
    clocks: tuple[tuple[str, str], ...] = ()  # (this workflow's clock, the target's clock)
    roles: tuple[str, ...] = ()
    description: str = ""
    location: SourceLocation | None = None
    items: tuple[ItemCarry, ...] = ()  # work items carried, by source type


@dataclass(frozen=True, slots=True)
class Reopening:
    """A declared way to reopen a closed case (see the module docstring)."""

    event: str
    sources: tuple[str, ...]  # final states
    target: str  # the open state the case enters
    within: Duration | None = None  # None: no window
    within_of: str | None = None  # CEL instant the window counts from; None: the closure
    roles: tuple[str, ...] = ()
    description: str = ""
    location: SourceLocation | None = None


def _location(origin: Origin) -> SourceLocation:
    line, col = origin.position()
    return SourceLocation(origin.doc.file, line, col)


def _declarations(asm: Assembled, key: str) -> list[tuple[dict[str, Any], Origin]]:
    return [
        (d, asm.origin(key, i))
        for i, d in enumerate(as_list(asm.data.get(key)))
        if isinstance(d, dict)
    ]


def _transfer_sources(asm: Assembled, d: dict[str, Any], origin: Origin) -> list[str]:
    diagnostics = len(asm.diagnostics)
    sources = shared_sources(asm, d, origin)
    del asm.diagnostics[diagnostics:]  # reported by the checks, once
    return [s for s in sources if s in asm.states and not asm.states[s].final]


def _reopen_sources(asm: Assembled, d: dict[str, Any]) -> list[str]:
    return [s for s in str_list(d.get("from")) if s in asm.states]


def continuity_transitions(asm: Assembled) -> list[RawTransition]:
    """The transitions the ``transfers:`` and ``reopen:`` declarations add, per source."""
    out: list[RawTransition] = []
    for d, origin in _declarations(asm, "transfers"):
        data = {k: d[k] for k in _TRANSITION_KEYS if k in d}
        data["target"] = d.get("target")
        for source in _transfer_sources(asm, d, origin):
            out.append(RawTransition(source, data, origin, shared=True))
    for d, origin in _declarations(asm, "reopen"):
        data = {k: d[k] for k in _TRANSITION_KEYS if k in d}
        data["target"] = d.get("target")
        for source in _reopen_sources(asm, d):
            out.append(RawTransition(source, data, origin, shared=True, reopen=True))
    return out


# -- building (only from a document the schema and the checks accepted) --------------------


def build_transfers(asm: Assembled) -> tuple[Transfer, ...]:
    return tuple(
        Transfer(
            event=d["event"],
            to_workflow=d["to"],
            sources=tuple(_transfer_sources(asm, d, origin)),
            target=d["target"],
            entry=d["entry"],
            record=tuple((str(k), str(v)) for k, v in as_dict(d.get("record")).items()),
            clocks=tuple((str(k), str(v)) for k, v in as_dict(d.get("clocks")).items()),
            roles=tuple(str_list(d.get("roles"))),
            description=str(d.get("description", "")),
            location=_location(origin),
            items=_item_carries(d.get("items")),
        )
        for d, origin in _declarations(asm, "transfers")
    )


def _item_carries(raw: Any) -> tuple[ItemCarry, ...]:
    out = []
    for src, value in as_dict(raw).items():
        if isinstance(value, str):
            out.append(ItemCarry(str(src), value))
            continue
        v = as_dict(value)
        states = tuple((str(a), str(b)) for a, b in as_dict(v.get("states")).items())
        out.append(ItemCarry(str(src), str(v.get("to", src)), states))
    return tuple(out)


def build_reopenings(asm: Assembled) -> tuple[Reopening, ...]:
    out = []
    for d, origin in _declarations(asm, "reopen"):
        within = as_dict(d.get("within"))
        after = resolve_duration(asm, within["after"])[0] if "after" in within else None
        out.append(
            Reopening(
                event=d["event"],
                sources=tuple(_reopen_sources(asm, d)),
                target=d["target"],
                within=after,
                within_of=as_str(within.get("of")),
                roles=tuple(str_list(d.get("roles"))),
                description=str(d.get("description", "")),
                location=_location(origin),
            )
        )
    return tuple(out)


# -- static checks (a mixin of the checker in checks.py) -----------------------------------


class ContinuityChecks:
    """Codes: transfer-target-not-final, reopen-from-not-final, reopen-target-final,
    continuity-event-reused, unknown-clock, transfer-item-closed, unknown-item-type,
    unknown-item-state (and unknown-state, invalid-duration and the
    CEL codes shared with the other checks)."""

    asm: Assembled

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
    ) -> None:
        raise NotImplementedError  # provided by FieldChecks

    def check_continuity(self) -> None:
        declared: dict[str, Origin] = {}
        ordinary = {
            t.event
            for t in self.asm.transitions
            if t.event is not None and not _is_continuity(self.asm, t)
        }
        clocks = {
            str(c.get("name"))
            for c in as_list(self.asm.data.get("clocks"))
            if isinstance(c, dict) and isinstance(c.get("name"), str)
        }
        for kind in ("transfers", "reopen"):
            for d, origin in _declarations(self.asm, kind):
                event = as_str(d.get("event"))
                if event is not None:
                    self._check_event(origin, event, declared, ordinary)
                payload = _payload_fields(d.get("payload"))
                if kind == "transfers":
                    self._check_transfer(origin, d, clocks, payload)
                else:
                    self._check_reopening(origin, d, payload)

    def _check_event(
        self, origin: Origin, event: str, declared: dict[str, Origin], ordinary: set[str]
    ) -> None:
        if event in ordinary:
            self.add(
                origin,
                ("event",),
                f"event '{event}' is also an ordinary transition's event: a transfer or "
                "reopening needs an event of its own",
                "continuity-event-reused",
            )
        first = declared.get(event)
        if first is not None:
            line, col = first.position()
            self.add(
                origin,
                ("event",),
                f"event '{event}' is declared by two transfers or reopenings",
                "continuity-event-reused",
                hint=f"the first is at {first.doc.file}:{line}:{col}",
            )
        declared.setdefault(event, origin)

    def _check_transfer(
        self, origin: Origin, d: dict[str, Any], clocks: set[str], payload: set[str] | None
    ) -> None:
        states = self.asm.states
        shared_sources(self.asm, d, origin)  # reports unknown from/except states
        target = as_str(d.get("target"))
        if target is not None and target in states and not states[target].final:
            self.add(
                origin,
                ("target",),
                f"a transfer closes the case here: target '{target}' must be a final state",
                "transfer-target-not-final",
                hint=_finals_hint(self.asm),
            )
        for name, source in as_dict(d.get("record")).items():
            if isinstance(source, str):
                self.check_cel(origin, ("record", name), source, payload=payload)
        for name in as_dict(d.get("clocks")):
            if name not in clocks:
                self.add(
                    origin,
                    ("clocks", name),
                    f"unknown clock '{name}': only this workflow's clocks can be carried",
                    "unknown-clock",
                    key=True,
                    hint=did_you_mean(name, clocks),
                )
        self._check_item_carries(origin, as_dict(d.get("items")))

    def _check_item_carries(self, origin: Origin, raw: dict[str, Any]) -> None:
        """The source side of ``items:`` (the target workflow is checked when the transfer
        runs: it is another file, maybe loaded later)."""
        types = as_dict(self.asm.data.get("items"))
        for name, value in raw.items():
            declared = as_dict(types.get(name))
            if name not in types:
                self.add(
                    origin,
                    ("items", name),
                    f"unknown item type '{name}': only this workflow's item types can be carried",
                    "unknown-item-type",
                    key=True,
                    hint=did_you_mean(str(name), types),
                )
                continue
            states = as_dict(declared.get("states"))
            for old in as_dict(as_dict(value).get("states")):
                if old not in states:
                    self.add(
                        origin,
                        ("items", name, "states", old),
                        f"unknown state '{old}' of item type '{name}'",
                        "unknown-item-state",
                        key=True,
                        hint=did_you_mean(str(old), states),
                    )
                elif as_dict(states[old]).get("final") is True:
                    self.add(
                        origin,
                        ("items", name, "states", old),
                        f"state '{old}' of item type '{name}' is final: only open items "
                        "are carried",
                        "transfer-item-closed",
                        key=True,
                    )

    def _check_reopening(self, origin: Origin, d: dict[str, Any], payload: set[str] | None) -> None:
        states = self.asm.states
        for j, name in enumerate(as_list(d.get("from"))):
            if not isinstance(name, str):
                continue
            if name not in states:
                self.add(
                    origin,
                    ("from", j),
                    f"unknown state '{name}'",
                    "unknown-state",
                    hint=did_you_mean(name, states),
                )
            elif not states[name].final:
                self.add(
                    origin,
                    ("from", j),
                    f"state '{name}' is not final: only a closed case can be reopened",
                    "reopen-from-not-final",
                    hint=_finals_hint(self.asm),
                )
        target = as_str(d.get("target"))
        if target is not None and target in states and states[target].final:
            self.add(
                origin,
                ("target",),
                f"a reopened case must be open: target '{target}' is a final state",
                "reopen-target-final",
            )
        within = as_dict(d.get("within"))
        if "after" in within:
            self.problem(
                origin, ("within", "after"), resolve_duration(self.asm, within["after"])[1]
            )
        of = within.get("of")
        if isinstance(of, str):
            self.check_cel(origin, ("within", "of"), of, payload=payload)


def _is_continuity(asm: Assembled, t: RawTransition) -> bool:
    return t.origin.doc is asm.main and t.origin.path[:1] in (("transfers",), ("reopen",))


def _payload_fields(schema: Any) -> set[str] | None:
    props = as_dict(schema).get("properties")
    return set(props) if isinstance(props, dict) else (set() if schema is None else None)


def _finals_hint(asm: Assembled) -> str | None:
    finals = sorted(n for n, s in asm.states.items() if s.final)
    return f"final states: {', '.join(finals)}" if finals else None
