"""Merge a workflow file with its included fragments and expand shared transitions.

The result (:class:`Assembled`) still holds raw YAML data, each element with
its :class:`Origin` (document and JSON path), so that the static checks can
point at the exact file, line and column. Everything here is lenient about
shapes: the schema reports those, and the checks must never crash on a
document the schema rejected.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.definitions.diagnostics import Diagnostic, shown
from engine.definitions.yaml_reader import JsonPath, YamlDocument, YamlError

PREVIOUS = "@previous"


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def str_list(value: Any) -> list[str]:
    return [v for v in as_list(value) if isinstance(v, str)]


HINT_BUDGET = 100_000  # did-you-mean comparisons per file
MAX_HINT_WORD = 100  # longer words get no did-you-mean
_hint_budget: ContextVar[list[int] | None] = ContextVar("_hint_budget", default=None)


def reset_hint_budget() -> None:
    """Give the file about to be checked its own did-you-mean budget."""
    _hint_budget.set([HINT_BUDGET])


def did_you_mean(word: str, candidates: Any) -> str | None:
    """'did you mean X?' for the closest candidate, within a per-file budget.

    The budget keeps a hostile file with thousands of misspellings among
    thousands of names from taking quadratic time.
    """
    if len(word) > MAX_HINT_WORD:  # no name is that long; difflib would be slow on it
        return None
    budget = _hint_budget.get()
    if budget is None:
        budget = [HINT_BUDGET]
        _hint_budget.set(budget)
    if budget[0] < len(candidates):
        return None
    budget[0] -= len(candidates)
    names = sorted(candidates)
    close = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


@dataclass(frozen=True)
class Origin:
    """Where an element was written: a document and the JSON path inside it."""

    doc: YamlDocument
    path: JsonPath

    def diag(
        self,
        sub: JsonPath,
        message: str,
        code: str,
        *,
        key: bool = False,
        hint: str | None = None,
        severity: str = "error",
    ) -> Diagnostic:
        return self.doc.diagnostic(
            (*self.path, *sub), message, code, key=key, hint=hint, severity=severity
        )

    def child(self, *sub: str | int) -> Origin:
        return Origin(self.doc, (*self.path, *sub))

    def position(self) -> tuple[int, int]:
        return self.doc.position(self.path, key=True)


@dataclass
class RawState:
    name: str
    data: dict[str, Any]
    origin: Origin

    @property
    def final(self) -> bool:
        return self.data.get("final") is True

    @property
    def hold(self) -> bool:
        return self.data.get("hold") is True

    @property
    def phase(self) -> str | None:
        return as_str(self.data.get("phase"))


@dataclass
class RawTransition:
    source: str
    data: dict[str, Any]
    origin: Origin
    shared: bool = False

    @property
    def event(self) -> str | None:
        return as_str(self.data.get("event"))

    @property
    def internal(self) -> bool:
        return self.data.get("internal") is True or (
            "target" in self.data and self.data["target"] is None
        )

    @property
    def target(self) -> str | None:
        return None if self.internal else as_str(self.data.get("target"))


@dataclass
class Named:
    """A role or parameter with its definition and origin."""

    name: str
    data: Any
    origin: Origin


@dataclass
class Assembled:
    main: YamlDocument
    fragments: list[YamlDocument] = field(default_factory=list)
    fragment_includes: list[str] = field(default_factory=list)  # as written under include
    roles: dict[str, Named] = field(default_factory=dict)
    parameters: dict[str, Named] = field(default_factory=dict)
    states: dict[str, RawState] = field(default_factory=dict)
    shared: list[tuple[dict[str, Any], Origin]] = field(default_factory=list)
    transitions: list[RawTransition] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # an include failed or a shared transition's `from` was unusable: the state
    # graph is known to be partial, so graph checks would only report consequences
    incomplete: bool = False
    _by_source: dict[str, list[RawTransition]] | None = field(default=None, repr=False)

    @property
    def data(self) -> dict[str, Any]:
        return as_dict(self.main.data)

    def origin(self, *path: str | int) -> Origin:
        return Origin(self.main, tuple(path))

    def transitions_from(self, state: str) -> list[RawTransition]:
        if self._by_source is None:
            index: dict[str, list[RawTransition]] = {}
            for t in self.transitions:
                index.setdefault(t.source, []).append(t)
            self._by_source = index
        return self._by_source.get(state, [])


DocReader = Callable[[Path, str], YamlDocument]


def include_display(main_file: str, include: str) -> str:
    """The name diagnostics use for an included fragment."""
    return os.path.normpath(os.path.join(os.path.dirname(main_file), include))


def _inside(path: Path, folder: Path) -> bool:
    """``path``, symlinks resolved, is ``folder`` or below it (no ``../`` or link escape)."""
    try:
        path.resolve().relative_to(folder.resolve())
    except (ValueError, OSError, RuntimeError):  # outside, unreadable or a symlink loop
        return False
    return True


def assemble(main: YamlDocument, main_path: Path, read: DocReader) -> Assembled:
    """Merge includes and expand shared transitions (lenient about shapes)."""
    asm = Assembled(main=main)
    data = asm.data
    sections: list[tuple[YamlDocument, dict[str, Any]]] = [(main, data)]
    for i, inc in enumerate(as_list(data.get("include"))):
        if not isinstance(inc, str):
            continue
        if os.path.isabs(inc):
            asm.incomplete = True
            asm.diagnostics.append(
                main.diagnostic(
                    ("include", i),
                    f"include path {shown(inc)} must be relative to this file",
                    "include-absolute",
                )
            )
            continue
        target = main_path.parent / inc
        if not _inside(target, main_path.parent):
            asm.incomplete = True
            asm.diagnostics.append(
                main.diagnostic(
                    ("include", i),
                    f"include path {shown(inc)} leaves this workflow's folder: fragments "
                    "must be in the workflow's folder or below it",
                    "include-outside",
                )
            )
            continue
        display = include_display(main.file, inc)
        try:
            frag = read(target, display)
        except YamlError as exc:
            asm.diagnostics.extend(exc.diagnostics)
            asm.incomplete = True
            continue
        except FileNotFoundError:
            asm.incomplete = True
            asm.diagnostics.append(
                main.diagnostic(
                    ("include", i), f"included file {shown(inc)} not found", "include-missing"
                )
            )
            continue
        fdata = as_dict(frag.data)
        if "fragment" not in fdata:
            asm.incomplete = True
            asm.diagnostics.append(
                main.diagnostic(
                    ("include", i),
                    f"included file {shown(inc)} is not a fragment "
                    "(it has no top-level 'fragment:' key)",
                    "include-not-fragment",
                )
            )
            continue
        if "items" in fdata:
            asm.diagnostics.append(
                frag.diagnostic(
                    ("items",),
                    "a fragment may not declare item types: declare them under 'items' "
                    "in the workflow file",
                    "items-in-fragment",
                    key=True,
                )
            )
        asm.fragments.append(frag)
        asm.fragment_includes.append(inc)
        sections.append((frag, fdata))

    for doc, sec in sections:
        _merge_named(asm, doc, sec, "roles", asm.roles, "role")
        _merge_named(asm, doc, sec, "parameters", asm.parameters, "parameter")
        for name, sdata in as_dict(sec.get("states")).items():
            origin = Origin(doc, ("states", name))
            if name in asm.states:
                asm.diagnostics.append(
                    _defined_twice(origin, "state", name, asm.states[name].origin)
                )
                continue
            asm.states[name] = RawState(name, as_dict(sdata), origin)
    for doc, sec in sections:
        for i, st in enumerate(as_list(sec.get("shared_transitions"))):
            if isinstance(st, dict):
                asm.shared.append((st, Origin(doc, ("shared_transitions", i))))
    _expand(asm)
    return asm


def _defined_twice(origin: Origin, what: str, name: str, first: Origin) -> Diagnostic:
    line, col = first.position()
    return origin.diag(
        (),
        f"{what} '{name}' is defined twice",
        f"duplicate-{what}",
        key=True,
        hint=f"first defined at {first.doc.file}:{line}:{col}",
    )


def _merge_named(
    asm: Assembled,
    doc: YamlDocument,
    sec: dict[str, Any],
    section: str,
    target: dict[str, Named],
    what: str,
) -> None:
    for name, value in as_dict(sec.get(section)).items():
        origin = Origin(doc, (section, name))
        if name in target:
            asm.diagnostics.append(_defined_twice(origin, what, name, target[name].origin))
            continue
        target[name] = Named(name, value, origin)


def shared_sources(asm: Assembled, st: dict[str, Any], origin: Origin) -> list[str]:
    """The states a shared transition applies to; unknown names are diagnosed."""
    spec = st.get("from")
    states = asm.states
    if spec == "open":
        chosen = [n for n, s in states.items() if not s.final]
    elif isinstance(spec, list):
        chosen = []
        for j, name in enumerate(spec):
            if not isinstance(name, str):
                continue
            if name in states:
                chosen.append(name)
            else:
                asm.incomplete = True
                asm.diagnostics.append(
                    origin.diag(
                        ("from", j),
                        f"unknown state '{name}'",
                        "unknown-state",
                        hint=did_you_mean(name, states),
                    )
                )
    elif isinstance(spec, dict) and isinstance(spec.get("phases"), list):
        phases = set(str_list(spec.get("phases")))
        chosen = [n for n, s in states.items() if not s.final and s.phase in phases]
    else:
        asm.incomplete = True  # the schema reports the shape
        chosen = []
    excluded = set()
    for j, name in enumerate(as_list(st.get("except"))):
        if not isinstance(name, str):
            continue
        if name not in states:
            asm.diagnostics.append(
                origin.diag(
                    ("except", j),
                    f"unknown state '{name}'",
                    "unknown-state",
                    hint=did_you_mean(name, states),
                )
            )
        excluded.add(name)
    return [n for n in chosen if n not in excluded]


def _expand(asm: Assembled) -> None:
    """Per state: its own transitions, then the shared ones in declaration order."""
    by_state: dict[str, list[RawTransition]] = {n: [] for n in asm.states}
    for name, state in asm.states.items():
        for i, t in enumerate(as_list(state.data.get("transitions"))):
            if isinstance(t, dict):
                by_state[name].append(RawTransition(name, t, state.origin.child("transitions", i)))
    for st, origin in asm.shared:
        for name in shared_sources(asm, st, origin):
            by_state[name].append(RawTransition(name, st, origin, shared=True))
    asm.transitions = [t for name in asm.states for t in by_state[name]]
