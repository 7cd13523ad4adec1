"""The simulator's script language."""

from __future__ import annotations

from datetime import time

import pytest

from engine.simulation.script import ScriptError, parse_script, steps_from_path

OPEN = 'day 0 open {"patient_id": "P-0001"}'


def test_steps_parse_times_actions_roles_payloads_and_expectations() -> None:
    steps = parse_script(
        f"""
        {OPEN}
        day 0 referral_received as intake_coordinator {{"source": "gp"}}
        day 3 14:30 first_contact_made as case_manager,supervisor by cm-17 expect assessing
        day 20 nothing   # the deadline passes
        +P2D contact_failed
        """
    )
    assert [s.action for s in steps] == ["open", "event", "event", "nothing", "event"]
    assert steps[0].payload == {"patient_id": "P-0001"}
    assert steps[1].roles == ("intake_coordinator",)
    assert steps[1].payload == {"source": "gp"}
    third = steps[2]
    assert (third.when.day, third.when.clock) == (3, time(14, 30))
    assert third.roles == ("case_manager", "supervisor")
    assert third.actor == "cm-17"
    assert third.expect == "assessing"
    assert steps[3].when.day == 20
    assert steps[4].when.after is not None
    assert steps[4].when.after.days == 2
    assert [s.line for s in steps] == [2, 3, 4, 5, 6]


def test_semicolons_separate_steps_outside_json_only() -> None:
    steps = parse_script(
        'day 0 open {"patient_id": "P-1; #2"}; day 1 noted {"text": "a;b"} ; day 2 nothing'
    )
    assert len(steps) == 3
    assert steps[0].payload == {"patient_id": "P-1; #2"}
    assert steps[1].payload == {"text": "a;b"}
    assert {s.line for s in steps} == {1}


@pytest.mark.parametrize(
    ("script", "line", "words"),
    [
        (f"{OPEN}\nweek 2 nothing", 2, "day N"),
        (f"{OPEN}\nday 2 25:00 nothing", 2, "HH:MM"),
        (f"{OPEN}\n+2D nothing", 2, "day N"),
        (f"{OPEN}\n+P0D nothing", 2, "duration"),
        (f'{OPEN}\nday 1 noted {{"a": }}', 2, "invalid JSON"),
        (f"{OPEN}\nday 1 noted as", 2, "unexpected text"),
        (f"{OPEN}\nday 1 noted extra words", 2, "unexpected text"),
        ("day 0 noted", 1, "first step must `open`"),
        (f"{OPEN}\n{OPEN}", 2, "only once"),
        ("# nothing here\n", None, "no steps"),
    ],
)
def test_script_errors_name_the_line(script: str, line: int | None, words: str) -> None:
    with pytest.raises(ScriptError) as info:
        parse_script(script)
    assert info.value.line == line
    assert words in str(info.value)


def test_script_errors_do_not_echo_payload_values() -> None:
    with pytest.raises(ScriptError) as info:
        parse_script('day 0 open {"patient_id": "Jane Doe", }')
    assert "Jane" not in str(info.value)


def test_path_steps_become_script_steps() -> None:
    steps = steps_from_path(
        {
            "record": {"patient_id": "P-1"},
            "steps": [
                {"event": "contacted", "actor": "c-1", "roles": ["clerk"], "expect": "assessing"},
                {"advance": "P8D", "expect": "assessing"},
            ],
        }
    )
    assert [s.action for s in steps] == ["open", "event", "nothing"]
    assert steps[1].roles == ("clerk",)
    assert steps[2].when.after is not None
    assert steps[2].when.after.days == 8
    with pytest.raises(ScriptError, match="event` or `advance"):
        steps_from_path({"record": {}, "steps": [{"wait": 1}]})
