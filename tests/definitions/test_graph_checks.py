"""Reachability and closability, including '@previous' returns from hold states."""

from __future__ import annotations

from pathlib import Path

import yaml

from engine.definitions import check_paths


def _workflow(states: dict, shared: list | None = None) -> dict:
    doc = {
        "name": "graph",
        "version": 1,
        "title": "T",
        "description": "D",
        "model": "clinical",
        "initial": "a",
        "case_schema": {"type": "object"},
        "roles": {"cm": {"description": "C."}},
        "states": states,
    }
    if shared:
        doc["shared_transitions"] = shared
    return doc


def _state(phase: str, *transitions: tuple[str, str], hold: bool = False, final: bool = False):
    s: dict = {"phase": phase, "description": "S."}
    if hold:
        s["hold"] = True
    if final:
        s["final"] = True
    if transitions:
        s["transitions"] = [{"event": e, "target": t, "roles": ["cm"]} for e, t in transitions]
    return s


PHASE_FILLERS = {
    "b": _state("assessment", ("go", "c")),
    "c": _state("planning", ("go", "d")),
    "d": _state("service_delivery", ("go", "e")),
    "e": _state("monitoring", ("go", "z")),
    "z": _state("closure", final=True),
}


def _check(tmp_path: Path, doc: dict) -> list[tuple[str, str]]:
    path = tmp_path / "graph.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return [(d.code, d.json_path) for d in check_paths([path]).diagnostics]


def test_hold_state_returning_with_previous_can_close(tmp_path: Path):
    states = {
        "a": _state("intake", ("go", "b"), ("hold", "h")),
        "h": _state("monitoring", ("resume", "@previous"), hold=True),
        **PHASE_FILLERS,
    }
    assert _check(tmp_path, _workflow(states)) == []


def test_previous_does_not_make_unentered_states_reachable(tmp_path: Path):
    states = {
        "a": _state("intake", ("go", "b"), ("hold", "h")),
        "h": _state("monitoring", ("resume", "@previous"), hold=True),
        "x": _state("planning", ("hold", "h"), ("go", "z")),
        **PHASE_FILLERS,
    }
    assert _check(tmp_path, _workflow(states)) == [("unreachable-state", "$.states.x")]


def test_hold_state_entered_only_from_stuck_states_cannot_close(tmp_path: Path):
    states = {
        "a": _state("intake", ("go", "b"), ("stuck", "s")),
        "s": _state("planning", ("hold", "h")),
        "h": _state("monitoring", ("resume", "@previous"), hold=True),
        **PHASE_FILLERS,
    }
    assert _check(tmp_path, _workflow(states)) == [
        ("cannot-close", "$.states.s"),
        ("cannot-close", "$.states.h"),
    ]


def test_shared_hold_from_open_states_with_previous_is_clean(tmp_path: Path):
    states = {
        "a": _state("intake", ("go", "b")),
        "h": _state("monitoring", ("resume", "@previous"), hold=True),
        **PHASE_FILLERS,
    }
    shared = [
        {"event": "hold", "from": "open", "except": ["h"], "target": "h", "roles": ["cm"]},
    ]
    assert _check(tmp_path, _workflow(states, shared)) == []


def test_shared_previous_from_a_non_hold_state_is_reported_once(tmp_path: Path):
    states = {"a": _state("intake", ("go", "b")), **PHASE_FILLERS}
    shared = [{"event": "back", "from": ["a", "b"], "target": "@previous", "roles": ["cm"]}]
    assert _check(tmp_path, _workflow(states, shared)) == [
        ("previous-not-hold", "$.shared_transitions[0].target"),
    ]


def test_timer_expression_cannot_read_the_event(tmp_path: Path):
    states = {"a": _state("intake", ("go", "b"), ("late", "z")), **PHASE_FILLERS}
    states["a"]["timers"] = [{"name": "t", "event": "late", "at": "event.when"}]
    assert _check(tmp_path, _workflow(states)) == [
        ("unknown-event-field", "$.states.a.timers[0].at"),
    ]
