"""Hypothesis: the checker never crashes, is deterministic and always locates its findings."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.definitions import check_paths
from engine.definitions.codes import DIAGNOSTIC_CODES, WARNING_CODES
from engine.definitions.loader import clear_cache

PHASES = ["intake", "assessment", "planning", "service_delivery", "monitoring", "closure"]
NAMES = ["intake", "assess", "plan", "deliver", "monitor", "hold", "closed", "on", "no", "yes"]
FIELDS = ["patient_id", "attempts", "risk", "discharge_date"]
TRANSITION_KEYS = ["event", "target", "guard", "roles", "payload", "writes", "set", "internal"]

name = st.sampled_from(NAMES)
typo = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_@", min_size=1, max_size=8)
maybe_typo_name = st.one_of(name, typo, st.just("@previous"))
scalar = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 400), st.text(max_size=6), st.sampled_from(NAMES)
)
guard = st.one_of(
    st.sampled_from(FIELDS).map(lambda f: f"case.{f} == 1"),
    st.sampled_from(
        ["event.score > 2", "params.max > 1", "case.x +", "has(case.risk)", "'case.q'"]
    ),
    st.text(max_size=12),
)
duration = st.sampled_from(["P14D", "P0D", "PT1H", "$deadline", "$nope", "P1M", "14 days", "P"])


@st.composite
def transition(draw: st.DrawFn) -> dict[str, Any]:
    t: dict[str, Any] = {"event": draw(st.sampled_from(["go", "stop", "tick", "resume", "Go"]))}
    kind = draw(st.integers(0, 3))
    if kind == 0:
        t["target"] = draw(maybe_typo_name)
    elif kind == 1:
        t["internal"] = draw(st.booleans())
    elif kind == 2:
        t[draw(st.sampled_from(["tragets", "targt"]))] = draw(name)
    if draw(st.booleans()):
        t["roles"] = draw(st.lists(st.sampled_from(["cm", "sup", "cmm"]), max_size=2, unique=True))
    if draw(st.booleans()):
        t["guard"] = draw(guard)
    if draw(st.integers(0, 4)) == 0:
        t["payload"] = {"type": "object", "properties": {"score": {"type": draw(typo)}}}
    if draw(st.integers(0, 4)) == 0:
        t["writes"] = draw(st.one_of(st.lists(st.sampled_from([*FIELDS, "score"])), scalar))
    if draw(st.integers(0, 4)) == 0:
        t["set"] = {draw(st.sampled_from([*FIELDS, "nope"])): draw(guard)}
    if draw(st.integers(0, 6)) == 0:
        t[draw(st.sampled_from(TRANSITION_KEYS))] = draw(scalar)
    return t


@st.composite
def timer(draw: st.DrawFn) -> dict[str, Any]:
    t: dict[str, Any] = {
        "name": draw(st.sampled_from(["due", "cadence", "due"])),
        "event": draw(st.sampled_from(["tick", "go", "late"])),
    }
    for key in draw(
        st.lists(
            st.sampled_from(["after", "every", "business_days", "at"]),
            min_size=0,
            max_size=2,
            unique=True,
        )
    ):
        if key == "business_days":
            t[key] = draw(st.one_of(st.integers(-1, 400), st.sampled_from(["$days", "$deadline"])))
        elif key == "at":
            t[key] = draw(guard)
        else:
            t[key] = draw(duration)
    if draw(st.integers(0, 3)) == 0:
        t["offset"] = draw(duration)
    return t


@st.composite
def state(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 15)) == 0:
        return draw(scalar)
    s: dict[str, Any] = {"phase": draw(st.sampled_from([*PHASES, "servce"])), "description": "S."}
    if draw(st.booleans()):
        s["final"] = True
    if draw(st.integers(0, 4)) == 0:
        s["hold"] = True
    if draw(st.booleans()):
        s["transitions"] = draw(st.lists(transition(), max_size=4))
    if draw(st.integers(0, 2)) == 0:
        s["timers"] = draw(st.lists(timer(), max_size=2))
    if draw(st.integers(0, 8)) == 0:
        s[draw(st.sampled_from(["descripton", "timer", "on_entry"]))] = "x"
    return s


@st.composite
def workflow(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": draw(st.sampled_from(["tiny", "Tiny", "t"])),
        "version": draw(st.sampled_from([1, 0, "1"])),
        "title": "T",
        "description": "D",
        "model": draw(st.sampled_from(["clinical", "clinic"])),
        "initial": draw(maybe_typo_name),
        "case_schema": draw(
            st.sampled_from(
                [
                    {"type": "object", "properties": {f: {"type": "integer"} for f in FIELDS}},
                    {"type": "object"},
                    {"type": "objekt"},
                ]
            )
        ),
        "roles": {"cm": {"description": "C."}, "sup": {"description": "S."}},
        "parameters": {
            "deadline": {"value": draw(st.sampled_from(["P14D", 3, "soon"])), "source": "R"},
            "days": {"value": draw(st.sampled_from([3, "P3D", 0])), "source": "R"},
            "max": {"value": 3, "source": "R"},
        },
        "states": draw(st.dictionaries(name, state(), max_size=8)),
    }
    if draw(st.booleans()):
        doc["shared_transitions"] = [
            {
                **draw(transition()),
                "from": draw(
                    st.one_of(
                        st.just("open"),
                        st.lists(maybe_typo_name, min_size=1, max_size=3),
                        st.just({"phases": ["intake", "monitoring"]}),
                    )
                ),
                "except": draw(st.lists(maybe_typo_name, max_size=2, unique=True)),
            }
        ]
    if draw(st.integers(0, 5)) == 0:
        doc.pop(draw(st.sampled_from(sorted(doc))))
    if draw(st.integers(0, 5)) == 0:
        doc[draw(st.sampled_from(["stats", "intial", "roels"]))] = draw(scalar)
    return doc


def _check(text: str) -> tuple[list[str], list[tuple[str, int, int, str]], int]:
    clear_cache()  # stability must come from the checker, not from the result cache
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "wf.yaml"
        path.write_text(text, encoding="utf-8")
        report = check_paths([path])
        for d in report.diagnostics:
            assert d.file == str(path)
            assert d.line >= 1
            assert d.column >= 1
            assert d.json_path.startswith("$")
            assert d.code != "internal-error", str(d)
            assert d.code in DIAGNOSTIC_CODES, d.code
            assert (d.severity == "warning") == (d.code in WARNING_CODES), d.code
            assert "\n" not in d.message
        shown = [str(d).replace(str(path), "wf.yaml") for d in report.diagnostics]
        located = [(d.code, d.line, d.column, d.json_path) for d in report.diagnostics]
        if report.ok:
            assert len(report.definitions) == 1
        return shown, located, len(report.definitions)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workflow())
def test_checker_never_crashes_and_is_stable(doc: dict[str, Any]):
    text = yaml.safe_dump(doc, sort_keys=False)
    first = _check(text)
    assert _check(text) == first


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet="ab:- \n[]{}&*!'\"#|>?,%@`\t\x07\x85\ufeffé<=~", max_size=80))
def test_reader_never_crashes_on_yaml_noise(text: str):
    shown, _, _ = _check(text)
    assert shown  # noise is never a valid workflow


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workflow(), st.integers(0, 10_000), st.sampled_from(["", "x", ":", "\n", "  ", "-"]))
def test_random_edits_are_reported_not_raised(doc: dict[str, Any], pos: int, insert: str):
    text = yaml.safe_dump(doc, sort_keys=False)
    pos %= len(text) + 1
    _check(text[:pos] + insert + text[pos:])


@st.composite
def near_valid_workflow(draw: st.DrawFn) -> tuple[dict[str, Any], bool]:
    """A valid workflow over a random state graph, with at most one random mistake."""
    count = draw(st.integers(6, 12))
    names = [f"s{i}" for i in range(count)]
    phases = [PHASES[min(i * 6 // (count - 1), 5)] for i in range(count)]
    phases[-1] = "closure"
    states: dict[str, Any] = {}
    for i, n in enumerate(names):
        s: dict[str, Any] = {"phase": phases[i], "description": f"State {i}."}
        if i == count - 1:
            s["final"] = True
        else:
            ts = [{"event": "next", "target": names[i + 1], "roles": ["cm"]}]
            for _ in range(draw(st.integers(0, 2))):
                ts.append(
                    {
                        "event": draw(st.sampled_from(["jump", "back", "note"])),
                        "target": draw(st.sampled_from(names)),
                        "roles": ["sup"],
                        "guard": draw(st.sampled_from(["case.attempts > 1", "true"])),
                    }
                )
            if draw(st.booleans()):
                s["timers"] = [{"name": "due", "event": "next", "after": "$deadline"}]
            s["transitions"] = ts
        states[n] = s
    doc: dict[str, Any] = {
        "name": "random_graph",
        "version": 1,
        "title": "T",
        "description": "D",
        "model": "intensive",
        "initial": "s0",
        "parameters": {"deadline": {"value": "P14D", "source": "R"}},
        "case_schema": {"type": "object", "properties": {f: {"type": "integer"} for f in FIELDS}},
        "roles": {"cm": {"description": "C."}, "sup": {"description": "S."}},
        "states": states,
    }
    mutated = draw(st.booleans())
    if mutated:
        victim = states[draw(st.sampled_from(names[:-1]))]
        t = victim["transitions"][0]
        mistake = draw(st.integers(0, 4))
        if mistake == 0:
            t["target"] = t["target"] + draw(typo)
        elif mistake == 1:
            t["tragets"] = t.pop("target")
        elif mistake == 2:
            t["roles"] = ["cmm"]
        elif mistake == 3:
            t["guard"] = "case.atempts > 1"
        else:
            victim["phase"] = "monitorng"
    return doc, mutated


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(near_valid_workflow())
def test_random_valid_graphs_load_and_single_mistakes_are_found(case: tuple[dict[str, Any], bool]):
    doc, mutated = case
    text = yaml.safe_dump(doc, sort_keys=False)
    shown, located, built = _check(text)
    errors = [s for s in shown if ": warning: " not in s]
    if mutated:
        assert errors
        assert built == 0
    else:
        assert errors == []
        assert built == 1
    assert _check(text) == (shown, located, built)
