"""The simulator's script language: one step per line (or ``;``-separated).

::

    # comments run to the end of the line
    day 0 open {"patient_id": "P-0001", "program": "adult"}
    day 0 referral_received as intake_coordinator {"source": "gp"}
    day 3 14:30 first_contact_made as case_manager expect assessing
    day 20 nothing
    +P2D contact_failed as case_manager by cm-17
    day 4 item add referral id ref-1 as case_manager {"provider": "Housing First"}
    day 9 item ref-1 accepted as case_manager expect monitoring
    +PT4H nothing expect closed

A step is ``WHEN WHAT``:

* ``WHEN`` is ``day N`` (the N-th local calendar day after the start, at the
  start's local time of day), ``day N HH:MM`` (that local time), or
  ``+DURATION`` (an ISO 8601 duration after the previous step; ``+P0D``... is
  not allowed, write the same ``day`` again instead).
* ``WHAT`` is ``open [as ROLES] [by ACTOR] [{json record}]``, ``nothing``
  (just let time pass and timers fire), or ``EVENT [as ROLES] [by ACTOR]
  [{json payload}]``. ``ROLES`` is a role or a comma-separated list; without
  ``as`` the event is sent with every role that may send it from the current
  state. Any step may end with ``expect STATE``: the simulation stops with an
  error (exit 1) if the case is then in another state.
* Work items: ``item add TYPE [id ID] [as ROLES] [by ACTOR] [{json payload}]``
  adds an item of ``TYPE`` (without ``id`` the engine names it ``TYPE-N``;
  without ``as`` it is added with the roles the type's ``create`` rule lists);
  ``item ID EVENT [as ROLES] [by ACTOR] [{json payload}]`` sends an item event
  (without ``as``: every role that may send it from the item's state; an item
  named ``add`` cannot be addressed here). Both take ``expect STATE`` (the
  case's state) as other steps do.

Parsing never evaluates anything: JSON is read with :mod:`json`, the rest with
regular expressions. Errors carry the script line, never payload values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

from engine.definitions.durations import parse_duration
from engine.definitions.model import Duration
from engine.errors import EngineError

__all__ = [
    "ScriptError",
    "ScriptStep",
    "When",
    "parse_script",
    "steps_from_path",
]

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_WHEN_DAY = re.compile(r"^day\s+(?P<day>\d{1,5})(?:\s+(?P<h>\d{1,2}):(?P<m>\d{2}))?(?=\s|$)")
_WHEN_REL = re.compile(r"^\+(?P<dur>P[0-9YMWDTHS]+)(?=\s|$)")
_HEAD = re.compile(rf"^(?P<what>{_NAME})(?=\s|$|\{{)")
_AS = re.compile(rf"^as\s+(?P<roles>{_NAME}(?:\s*,\s*{_NAME})*)(?=\s|$|\{{)")
_BY = re.compile(r"^by\s+(?P<actor>[A-Za-z0-9_.@:-]{1,100})(?=\s|$|\{)")
_EXPECT = re.compile(rf"^expect\s+(?P<state>{_NAME})\s*$")
_ITEM_ID = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}"  # ITEM_ID_PATTERN (engine/definitions/items.py)
_ITEM_ADD = re.compile(
    rf"^add\s+(?P<type>[a-z][a-z0-9_]*)(?:\s+id\s+(?P<id>{_ITEM_ID}))?(?=\s|$|\{{)"
)
_ITEM_EVENT = re.compile(rf"^(?P<id>{_ITEM_ID})\s+(?P<event>{_NAME})(?=\s|$|\{{)")


class ScriptError(EngineError):
    """The simulation script is invalid or a step could not be carried out."""

    code = "simulation-error"

    def __init__(self, line: int | None, message: str, *, allowed: Sequence[str] = ()) -> None:
        self.line = line
        self.detail = message
        self.allowed = tuple(allowed)
        where = f"line {line}: " if line is not None else ""
        extra = f" (allowed now: {', '.join(self.allowed) or 'none'})" if allowed else ""
        super().__init__(f"{where}{message}{extra}")

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.update(line=self.line, detail=self.detail, allowed_events=list(self.allowed))
        return d


@dataclass(frozen=True, slots=True)
class When:
    """When a step happens: a day number (and local time), or a duration after the last step."""

    day: int | None = None
    clock: time | None = None  # local time of day; None: the start's time of day
    after: Duration | None = None  # relative to the previous step; None with day None: same time
    at: datetime | None = None  # an absolute instant (programmatic steps only)

    def describe(self) -> str:
        if self.at is not None:
            return self.at.isoformat()
        if self.day is not None:
            return f"day {self.day}" + (f" {self.clock:%H:%M}" if self.clock else "")
        if self.after is not None:
            return f"+{self.after.text}"
        return "(same time)"


@dataclass(frozen=True, slots=True)
class ScriptStep:
    """One step of a simulation."""

    line: int | None
    when: When
    action: str  # "open" | "event" | "nothing" | "item_add" | "item_event"
    event: str | None = None
    roles: tuple[str, ...] = ()  # empty: the roles that may send the event now
    actor: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)
    expect: str | None = None
    item_type: str | None = None  # item_add: the type to add
    item_id: str | None = (
        None  # item_add: the id to give (None: "<type>-<n>"); item_event: the item
    )
    expect_items: Mapping[str, str] = field(default_factory=dict)  # item id -> expected item state


def _segments(text: str) -> list[tuple[int, str]]:
    """Split into (line number, step text): newlines and ``;`` outside JSON, ``#`` comments."""
    out: list[tuple[int, str]] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        depth = 0
        in_string = False
        escaped = False
        current: list[str] = []
        for ch in raw:
            if in_string:
                current.append(ch)
                if escaped:
                    escaped = False
                elif ch == "\\":
                    escaped = True
                elif ch == '"':
                    in_string = False
                continue
            if ch == '"' and depth > 0:
                in_string = True
            elif ch in "{[":
                depth += 1
            elif ch in "}]":
                depth = max(0, depth - 1)
            elif ch == "#" and depth == 0:
                break
            elif ch == ";" and depth == 0:
                out.append((lineno, "".join(current).strip()))
                current = []
                continue
            current.append(ch)
        out.append((lineno, "".join(current).strip()))
    return [(n, s) for n, s in out if s]


def _parse_when(lineno: int, text: str) -> tuple[When, str]:
    m = _WHEN_DAY.match(text)
    if m:
        clock = None
        if m.group("h") is not None:
            hour, minute = int(m.group("h")), int(m.group("m"))
            if hour > 23 or minute > 59:
                raise ScriptError(lineno, "time of day must be HH:MM between 00:00 and 23:59")
            clock = time(hour, minute)
        return When(day=int(m.group("day")), clock=clock), text[m.end() :].strip()
    m = _WHEN_REL.match(text)
    if m:
        try:
            duration = parse_duration(m.group("dur"))
        except ValueError:
            raise ScriptError(
                lineno, "relative time must be +ISO-8601 duration such as +P2D or +PT4H"
            ) from None
        return When(after=duration), text[m.end() :].strip()
    raise ScriptError(
        lineno, "a step starts with `day N`, `day N HH:MM` or `+DURATION` (e.g. +P2D)"
    )


def _parse_step(lineno: int, text: str) -> ScriptStep:
    when, rest = _parse_when(lineno, text)
    m = _HEAD.match(rest)
    if not m:
        raise ScriptError(lineno, "expected `open`, `nothing` or an event name after the time")
    what = m.group("what")
    rest = rest[m.end() :].strip()
    roles: tuple[str, ...] = ()
    actor: str | None = None
    payload: dict[str, Any] = {}
    expect: str | None = None
    item_type: str | None = None
    item_id: str | None = None
    event: str | None
    if what == "nothing":
        action, event = "nothing", None
    elif what == "open":
        action, event = "open", None
    elif what == "item":
        m_add = _ITEM_ADD.match(rest)
        adding = re.match(r"^add(?=\s|$|\{)", rest) is not None  # `add` is not an item id here
        m_ev = None if adding else _ITEM_EVENT.match(rest)
        if m_add:
            action, event = "item_add", None
            item_type, item_id = m_add.group("type"), m_add.group("id")
            rest = rest[m_add.end() :].strip()
        elif m_ev:
            action, event = "item_event", m_ev.group("event")
            item_id = m_ev.group("id")
            rest = rest[m_ev.end() :].strip()
        else:
            raise ScriptError(
                lineno, "expected `item add TYPE [id ID]` or `item ID EVENT` after `item`"
            )
    else:
        action, event = "event", what
    if action != "nothing":
        m_as = _AS.match(rest)
        if m_as:
            roles = tuple(r.strip() for r in m_as.group("roles").split(","))
            rest = rest[m_as.end() :].strip()
        m_by = _BY.match(rest)
        if m_by:
            actor = m_by.group("actor")
            rest = rest[m_by.end() :].strip()
        if rest.startswith("{"):
            try:
                value, end = json.JSONDecoder().raw_decode(rest)
            except json.JSONDecodeError as exc:
                raise ScriptError(
                    lineno, f"invalid JSON object (column {exc.colno}: {exc.msg})"
                ) from None
            if not isinstance(value, dict):  # pragma: no cover - starts with "{"
                raise ScriptError(lineno, "the payload must be a JSON object")
            payload = value
            rest = rest[end:].strip()
    if rest:
        m_exp = _EXPECT.match(rest)
        if not m_exp:
            raise ScriptError(
                lineno,
                "unexpected text after the step; expected `as ROLES`, `by ACTOR`, "
                "a JSON object or `expect STATE`",
            )
        expect = m_exp.group("state")
    return ScriptStep(
        line=lineno,
        when=when,
        action=action,
        event=event,
        roles=roles,
        actor=actor,
        payload=payload,
        expect=expect,
        item_type=item_type,
        item_id=item_id,
    )


def parse_script(text: str) -> list[ScriptStep]:
    """Parse a script; raises :class:`ScriptError` naming the first bad line."""
    steps = [_parse_step(lineno, seg) for lineno, seg in _segments(text)]
    if not steps:
        raise ScriptError(None, "the script has no steps")
    opens = [s for s in steps if s.action == "open"]
    if not opens or steps[0].action != "open":
        raise ScriptError(steps[0].line, "the first step must `open` the case")
    if len(opens) > 1:
        raise ScriptError(opens[1].line, "a script simulates one case: `open` only once")
    return steps


def steps_from_path(path: Mapping[str, Any]) -> list[ScriptStep]:
    """The steps of one scripted path of ``tests/paths/<workflow>.yaml`` (see contracts.md).

    ``record`` opens the case at day 0; an ``event`` step is sent at the
    current virtual time; an ``add_item: TYPE`` step (optional ``item_id``)
    adds a work item and an ``item: ID`` step sends it its ``event``; an
    ``advance`` step moves time forward by its duration, firing due timers.
    ``expect`` (the case's state) and ``expect_items`` (item id -> item
    state) are checked after each step and ``final`` after the last one.
    ``line`` is the 1-based step number.
    """
    steps: list[ScriptStep] = [
        ScriptStep(line=None, when=When(day=0), action="open", payload=dict(path.get("record", {})))
    ]
    for index, raw in enumerate(path.get("steps", []), start=1):
        if "advance" in raw:
            try:
                duration = parse_duration(str(raw["advance"]))
            except ValueError:
                raise ScriptError(index, "`advance` must be an ISO 8601 duration") from None
            steps.append(
                ScriptStep(
                    line=index,
                    when=When(after=duration),
                    action="nothing",
                    expect=raw.get("expect"),
                    expect_items=_expect_items(index, raw),
                )
            )
        elif "add_item" in raw:
            steps.append(
                ScriptStep(
                    line=index,
                    when=When(),
                    action="item_add",
                    item_type=str(raw["add_item"]),
                    item_id=None if raw.get("item_id") is None else str(raw["item_id"]),
                    roles=tuple(raw.get("roles", ())),
                    actor=raw.get("actor"),
                    payload=dict(raw.get("payload") or {}),
                    expect=raw.get("expect"),
                    expect_items=_expect_items(index, raw),
                )
            )
        elif "item" in raw:
            if "event" not in raw:
                raise ScriptError(index, "an `item` step needs the `event` to send the item")
            steps.append(
                ScriptStep(
                    line=index,
                    when=When(),
                    action="item_event",
                    item_id=str(raw["item"]),
                    event=str(raw["event"]),
                    roles=tuple(raw.get("roles", ())),
                    actor=raw.get("actor"),
                    payload=dict(raw.get("payload") or {}),
                    expect=raw.get("expect"),
                    expect_items=_expect_items(index, raw),
                )
            )
        elif "event" in raw:
            steps.append(
                ScriptStep(
                    line=index,
                    when=When(),
                    action="event",
                    event=str(raw["event"]),
                    roles=tuple(raw.get("roles", ())),
                    actor=raw.get("actor"),
                    payload=dict(raw.get("payload") or {}),
                    expect=raw.get("expect"),
                    expect_items=_expect_items(index, raw),
                )
            )
        else:
            raise ScriptError(index, "a path step needs `event`, `add_item`, `item` or `advance`")
    return steps


def _expect_items(index: int, raw: Mapping[str, Any]) -> dict[str, str]:
    value = raw.get("expect_items") or {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ScriptError(index, "`expect_items` maps item ids to item states")
    return dict(value)
