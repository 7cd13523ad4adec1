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
    with pytest.raises(ScriptError, match="needs `event`, `add_item`, `item` or `advance`"):
        steps_from_path({"record": {}, "steps": [{"wait": 1}]})


def test_item_steps_parse_type_id_event_roles_actor_payload_and_expectation() -> None:
    steps = parse_script(
        f"""
        {OPEN}
        day 1 item add referral id ref-housing as case_manager by cm-17 {{"provider": "HF"}}
        day 2 item add contact {{"mode": "phone"}} expect monitoring
        day 9 item ref-housing accepted as provider,case_manager {{"answered_on": "2026-01-14"}}
        +P1D item contact-1 voided
        """
    )
    assert [s.action for s in steps] == ["open", "item_add", "item_add", "item_event", "item_event"]
    add = steps[1]
    assert (add.item_type, add.item_id, add.roles, add.actor) == (
        "referral",
        "ref-housing",
        ("case_manager",),
        "cm-17",
    )
    assert add.payload == {"provider": "HF"}
    assert (steps[2].item_type, steps[2].item_id, steps[2].expect) == (
        "contact",
        None,
        "monitoring",
    )
    send = steps[3]
    assert (send.item_id, send.event, send.roles) == (
        "ref-housing",
        "accepted",
        ("provider", "case_manager"),
    )
    assert send.payload == {"answered_on": "2026-01-14"}
    assert (steps[4].item_id, steps[4].event, steps[4].roles) == ("contact-1", "voided", ())


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("day 1 item", "item add TYPE"),
        ("day 1 item add", "item add TYPE"),
        ("day 1 item add Referral", "item add TYPE"),
        ("day 1 item ref-1", "item add TYPE"),
        ("day 1 item add referral id", "unexpected text"),
        ("day 1 item ref-1 accepted extra", "unexpected text"),
    ],
)
def test_bad_item_steps_name_the_line(text: str, words: str) -> None:
    with pytest.raises(ScriptError) as info:
        parse_script(f"{OPEN}\n{text}")
    assert info.value.line == 2
    assert words in str(info.value)


def test_path_item_steps_become_script_steps() -> None:
    steps = steps_from_path(
        {
            "record": {"patient_id": "P-1"},
            "steps": [
                {
                    "add_item": "referral",
                    "item_id": "ref-1",
                    "actor": "cm-1",
                    "roles": ["case_manager"],
                    "payload": {"provider": "HF"},
                    "expect": "referrals_pending",
                    "expect_items": {"ref-1": "sent"},
                },
                {"item": "ref-1", "event": "accepted", "expect_items": {"ref-1": "accepted"}},
                {"advance": "P1D", "expect_items": {"ref-1": "accepted"}},
            ],
        }
    )
    assert [s.action for s in steps] == ["open", "item_add", "item_event", "nothing"]
    assert (steps[1].item_type, steps[1].item_id, steps[1].payload) == (
        "referral",
        "ref-1",
        {"provider": "HF"},
    )
    assert steps[1].expect_items == {"ref-1": "sent"}
    assert (steps[2].item_id, steps[2].event) == ("ref-1", "accepted")
    assert steps[3].expect_items == {"ref-1": "accepted"}
    with pytest.raises(ScriptError, match="needs the `event`"):
        steps_from_path({"record": {}, "steps": [{"item": "ref-1"}]})
    with pytest.raises(ScriptError, match="maps item ids to item states"):
        steps_from_path({"record": {}, "steps": [{"item": "r", "event": "e", "expect_items": [1]}]})
