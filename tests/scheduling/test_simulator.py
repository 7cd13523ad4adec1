"""The simulator: timelines in virtual time on the real engine, and `casework simulate`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from phi_sentinel import SENTINEL

from engine.cli.main import main
from engine.simulation.script import ScriptError, parse_script
from engine.simulation.simulator import simulate

from ._engine import DEADLINES

RECORD = json.dumps(
    {"patient_id": "P-0001", "program": SENTINEL, "priority": "routine", "risk_level": "low"}
)
SCRIPT = f"""
day 0 open {RECORD}
day 3 contact_attempt_failed as case_manager
day 20 nothing
day 21 first_contact_made as case_manager {{"contact_date": "2026-01-26"}} expect assessing
+P60D nothing
"""


def test_timeline_shows_each_timer_firing_with_local_date_time_and_weekday() -> None:
    tl = simulate("brokerage", parse_script(SCRIPT))
    fired = tl.timers_fired
    assert [e.timer for e in fired] == ["first_contact_deadline", "assessment_deadline"]
    first = fired[0]
    # 10 business days in South Dakota from Mon 5 Jan 2026 09:00 CST: MLK day (19th) skipped.
    assert (first.day, first.local.weekday, first.local.date, first.local.time) == (
        15,
        "Tue",
        "2026-01-20",
        "09:00",
    )
    assert first.local.zone == "CST"
    assert first.actor == "timer"
    # 45 days after 26 Jan, across the DST change: still 09:00 local.
    second = fired[1]
    assert (second.local.date, second.local.time, second.local.zone) == (
        "2026-03-12",
        "09:00",
        "CDT",
    )
    assert tl.final_state == "assessing"
    opened = tl.entries[0]
    assert [a.name for a in opened.armed] == ["first_contact_deadline"]


def test_pause_and_resume_appear_in_the_timeline() -> None:
    script = f"""
    day 0 open {RECORD}
    day 2 put_on_hold as case_manager {{"hold_reason": "hospitalised"}}
    day 40 resume as case_manager
    day 60 nothing
    """
    tl = simulate("brokerage", parse_script(script))
    hold = next(e for e in tl.entries if e.event == "put_on_hold")
    assert [c.name for c in hold.paused] == ["first_contact_deadline"]
    resume = next(e for e in tl.entries if e.event == "resume")
    assert [c.name for c in resume.resumed] == ["first_contact_deadline"]
    assert {c.name for c in resume.cancelled} == {"hold_review", "unreachable_limit"}
    assert "first_contact_deadline" in [e.timer for e in tl.timers_fired]


def test_unknown_event_names_the_line_and_the_allowed_events() -> None:
    with pytest.raises(ScriptError) as info:
        simulate("brokerage", parse_script(f"day 0 open {RECORD}\nday 1 bogus_event"))
    assert info.value.line == 2
    assert "first_contact_made" in info.value.allowed
    assert "bogus_event" in str(info.value)


def test_event_not_allowed_in_the_state_names_the_line() -> None:
    with pytest.raises(ScriptError) as info:
        simulate("brokerage", parse_script(f"day 0 open {RECORD}\n\nday 1 goals_met"))
    assert info.value.line == 3
    assert "wrong_state" in str(info.value)


def test_failed_expectation_and_time_going_backwards_are_errors() -> None:
    with pytest.raises(ScriptError, match="expected the case in state 'closed'") as info:
        simulate("brokerage", parse_script(f"day 0 open {RECORD}\nday 1 nothing expect closed"))
    assert info.value.line == 2
    with pytest.raises(ScriptError, match="before the previous step") as info:
        simulate("brokerage", parse_script(f"day 0 open {RECORD}\nday 5 nothing\nday 4 nothing"))
    assert info.value.line == 3


def test_start_without_offset_is_local_time_of_the_workflow() -> None:
    tl = simulate(DEADLINES, parse_script('day 0 open {"patient_id": "P-1"}'), start="2026-07-01")
    assert tl.start == datetime(2026, 7, 1, 4, 0, tzinfo=UTC)  # midnight EDT


def test_cli_prints_the_timeline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "s.txt"
    script.write_text(SCRIPT, encoding="utf-8")
    assert main(["simulate", "brokerage", "--script", str(script)]) == 0
    out = capsys.readouterr().out
    assert "timer first_contact_deadline" in out
    assert "Tue 2026-01-20 09:00 CST" in out
    assert "Timers fired: 2" in out


def test_cli_json_output_is_parseable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "s.txt"
    script.write_text(SCRIPT, encoding="utf-8")
    assert main(["simulate", "brokerage", "--script", str(script), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [e["timer"] for e in data["entries"] if e["kind"] == "timer"] == [
        "first_contact_deadline",
        "assessment_deadline",
    ]


def test_cli_unknown_event_exits_1_with_line_and_allowed_events(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "s.txt"
    script.write_text(f"day 0 open {RECORD}\nday 1 bogus_event\n", encoding="utf-8")
    assert main(["simulate", "brokerage", "--script", str(script)]) == 1
    err = capsys.readouterr().err
    assert "line 2" in err
    assert "allowed now:" in err
    assert "first_contact_made" in err


def test_cli_without_script_or_deadlines_is_a_usage_error() -> None:
    assert main(["simulate", "brokerage"]) == 2


def test_cli_unknown_workflow_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "no_such_workflow", "--deadlines"]) == 1
    assert "no_such_workflow" in capsys.readouterr().err


def test_timeline_shows_the_actions_a_step_ran() -> None:
    tl = simulate("brokerage", parse_script(SCRIPT))
    overdue = next(e for e in tl.timers_fired if e.timer == "assessment_deadline")
    assert overdue.actions == ("notify_supervisor_assessment_overdue",)
    assert tl.entries[0].actions == ()
