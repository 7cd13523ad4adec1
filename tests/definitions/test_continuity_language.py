"""``transfers:`` and ``reopen:`` in the language: IR, generated transitions, JSON round
trip, and every mistake reported at its file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.definitions import check_paths, load_workflow, load_workflows
from engine.store.codec import definition_from_json, definition_to_json

ROOT = Path(__file__).resolve().parents[2]
LIGHT = ROOT / "tests" / "fixtures" / "continuity" / "light.yaml"


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    text = LIGHT.read_text()
    assert old in text
    path = tmp_path / "light.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


def _errors(path: Path) -> list[str]:
    report = check_paths([path])
    return [f"{d.line}:{d.column}: {d.json_path}: {d.code}" for d in report.errors]


def test_transfer_and_reopening_are_built_with_their_location() -> None:
    d = load_workflow(LIGHT)
    (t,) = d.transfers
    assert (t.event, t.to_workflow, t.target, t.entry) == (
        "move_to_heavy",
        "heavy",
        "transferred",
        "assessing",
    )
    assert "transferred" not in t.sources
    assert "closed" not in t.sources
    assert "monitoring" in t.sources
    assert dict(t.record)["referral"] == "case.source"
    assert t.clocks == (("review", "annual_review"), ("contact", "weekly_contact"))
    assert t.location is not None
    assert t.location.line == 42
    came_back, seen = d.reopenings
    assert (came_back.sources, came_back.target, came_back.within_of) == (
        ("closed",),
        "monitoring",
        None,
    )
    assert came_back.within is not None
    assert came_back.within.days == 14
    assert seen.within_of == "case.seen_on"
    assert d.transfer("move_to_heavy") is t
    assert d.reopening("came_back") is came_back


def test_each_declaration_is_a_transition_from_each_of_its_states() -> None:
    d = load_workflow(LIGHT)
    moves = [x for x in d.transitions if x.event == "move_to_heavy"]
    assert {x.source for x in moves} == set(d.transfers[0].sources)
    assert {x.target for x in moves} == {"transferred"}
    assert all(x.roles == ("lead",) for x in moves)
    (back,) = [x for x in d.transitions if x.event == "came_back"]
    assert (back.source, back.target, back.sets) == (
        "closed",
        "monitoring",
        (("reopened", "case.reopened + 1"),),
    )


@pytest.mark.parametrize("name", ["brokerage", "intensive", "hospital"])
def test_bundled_declarations_survive_the_json_round_trip(name: str) -> None:
    (d,) = [x for x in load_workflows([ROOT / "workflows"]) if x.name == name]
    back = definition_from_json(definition_to_json(d), d.source_text)
    assert back.transfers == d.transfers
    assert back.reopenings == d.reopenings
    assert back.transitions == d.transitions


def test_hospital_reopens_within_the_30_day_readmission_window_of_discharge() -> None:
    (d,) = [x for x in load_workflows([ROOT / "workflows"]) if x.name == "hospital"]
    (r,) = d.reopenings
    assert d.parameters["readmission_window"] == "P30D"
    assert r.within is not None
    assert r.within.text == "P30D"
    assert r.within_of == "case.discharge_date"
    assert set(r.sources) == {"closed", "unable_to_contact", "withdrawn"}  # not transferred


def test_transfer_target_must_be_final(tmp_path: Path) -> None:
    path = _variant(tmp_path, "    target: transferred\n", "    target: monitoring\n")
    assert _errors(path) == [
        "45:13: $.transfers[0].target: transfer-target-not-final",
        "148:3: $.states.transferred: unreachable-state",  # nothing else enters it
    ]


def test_reopen_from_must_be_final_and_target_open(tmp_path: Path) -> None:
    path = _variant(
        tmp_path,
        "    from: [closed]\n    target: monitoring\n",
        "    from: [closed, monitoring]\n    target: withdrawn\n",
    )
    assert _errors(path) == [
        "63:20: $.reopen[0].from[1]: reopen-from-not-final",
        "64:13: $.reopen[0].target: reopen-target-final",
    ]


def test_unknown_states_clocks_and_fields_are_located(tmp_path: Path) -> None:
    path = _variant(tmp_path, "      review: annual_review\n", "      reveiw: annual_review\n")
    assert _errors(path) == ["58:7: $.transfers[0].clocks.reveiw: unknown-clock"]
    path = _variant(tmp_path, "      referral: case.source\n", "      referral: case.sauce\n")
    assert _errors(path) == ["55:17: $.transfers[0].record.referral: unknown-case-field"]
    path = _variant(tmp_path, "    from: [closed]\n", "    from: [clossed]\n")
    assert _errors(path) == ["63:12: $.reopen[0].from[0]: unknown-state"]
    path = _variant(tmp_path, "    within: {after: P14D}\n", "    within: {after: 14 days}\n")
    assert any("$.reopen[0].within.after" in e for e in _errors(path))


def test_a_declaration_event_must_be_its_own(tmp_path: Path) -> None:
    path = _variant(tmp_path, "  - event: came_back\n", "  - event: contacted\n")
    assert _errors(path) == ["62:12: $.reopen[0].event: continuity-event-reused"]
