"""The simulator runs work-item steps on the bundled workflows (brokerage referrals)."""

from __future__ import annotations

import json

import pytest

from engine.simulation.script import ScriptError, parse_script
from engine.simulation.simulator import simulate
from engine.simulation.timeline import render_timeline

RECORD = {"patient_id": "P-0001", "program": "x", "priority": "routine", "risk_level": "low"}
LEAD_IN = [
    f"day 0 open {json.dumps(RECORD)}",
    'day 1 first_contact_made as case_manager {"contact_date": "2026-01-06"}',
    "day 2 assessment_completed as case_manager "
    '{"assessed_needs": ["housing"], "risk_level": "low"}',
    'day 3 plan_completed as case_manager {"plan_services": ["housing_assistance"], '
    '"plan_start_date": "2026-01-08"}',
    'day 3 item add referral id ref-1 {"provider": "hf-01", "service": "housing_assistance", '
    '"sent_on": "2026-01-08"} expect referrals_pending',
]


def test_item_steps_run_and_the_timeline_names_the_item() -> None:
    script = [
        *LEAD_IN,
        'day 40 item ref-1 accepted {"answered_on": "2026-02-14"} expect monitoring',
    ]
    tl = simulate("brokerage", parse_script("\n".join(script)))
    assert tl.final_state == "monitoring"
    rows = [(e.item_id, e.event, e.item_from, e.item_to) for e in tl.entries if e.item_id]
    assert rows == [
        ("ref-1", "@create", None, "sent"),
        ("ref-1", "no_answer", "sent", "sent"),  # 30 days unanswered (agency policy)
        ("ref-1", "accepted", "sent", "accepted"),
    ]
    chase = next(e for e in tl.entries if e.event == "no_answer")
    assert chase.kind == "timer"
    assert chase.day == 33
    assert "create_referral_follow_up_task" in chase.actions
    # the item's case_event moved the case, in the same step
    linked = next(e for e in tl.entries if e.event == "referral_accepted")
    assert (linked.from_state, linked.to_state, linked.day) == (
        "referrals_pending",
        "monitoring",
        40,
    )
    text = render_timeline(tl)
    assert "ref-1 accepted" in text
    assert "item ref-1: sent → accepted" in text


@pytest.mark.parametrize(
    ("step", "words"),
    [
        ("day 4 item add goal {}", "unknown item type 'goal'"),
        ("day 4 item ref-9 accepted", "no item 'ref-9'"),
        ('day 4 item ref-1 overturned {"answered_on": "2026-01-09"}', "item event 'overturned'"),
        ('day 4 item add referral {"provider": "x"}', "invalid at"),
        (
            'day 4 item add referral id ref-1 {"provider": "x", "service": "transport", '
            '"sent_on": "2026-01-09"}',
            "ref-1",
        ),
    ],
)
def test_bad_item_steps_stop_the_simulation_naming_the_line(step: str, words: str) -> None:
    with pytest.raises(ScriptError) as info:
        simulate("brokerage", parse_script("\n".join([*LEAD_IN, step])))
    assert info.value.line == len(LEAD_IN) + 1
    assert words in str(info.value)


def test_expect_items_in_a_path_step_is_checked() -> None:
    from engine.simulation.script import steps_from_path
    from engine.simulation.simulator import open_simulation

    path = {
        "record": RECORD,
        "steps": [
            {
                "event": "first_contact_made",
                "roles": ["case_manager"],
                "payload": {"contact_date": "2026-01-06"},
            },
            {
                "event": "assessment_completed",
                "roles": ["case_manager"],
                "payload": {"assessed_needs": ["housing"], "risk_level": "low"},
            },
            {
                "add_item": "referral",
                "item_id": "r",
                "roles": ["case_manager"],
                "payload": {"provider": "p", "service": "transport", "sent_on": "2026-01-08"},
                "expect_items": {"r": "accepted"},
            },
        ],
    }
    with open_simulation("brokerage") as sim, pytest.raises(ScriptError) as info:
        sim.run(steps_from_path(path))
    assert "expected item 'r' in state 'accepted', it is in 'sent'" in str(info.value)


CLINICAL = {"patient_id": "P-0101", "program": "rehab", "priority": "routine", "risk_level": "high"}
CLINICAL_PLAN = [
    f"day 0 open {json.dumps(CLINICAL)}",
    'day 1 first_contact_made as intake_coordinator {"contact_date": "2026-01-06"}',
    "day 2 assessment_completed as nurse_case_manager "
    '{"clinical_needs": ["mobility"], "risk_level": "high"}',
    'day 2 item add service id pt {"service": "physical_therapy", "goals": ["Walk a mile"]}',
    'day 3 care_plan_agreed as nurse_case_manager {"plan_start_date": "2026-01-08"} '
    "expect coordinating_services",
]


def test_appointment_reminder_fires_the_day_before_its_date() -> None:
    script = [
        *CLINICAL_PLAN,
        "day 4 item add appointment id appt as case_manager "
        '{"date": "2026-01-20", "provider": "clinic-1", "service": "orthopaedics"}',
        "day 20 nothing",
    ]
    tl = simulate("clinical", parse_script("\n".join(script)))
    (reminder,) = [e for e in tl.entries if e.item_id == "appt" and e.event == "reminder_due"]
    assert reminder.local.date == "2026-01-19"  # one day before the appointment date
    assert "send_appointment_reminder" in reminder.actions


def test_a_session_of_a_service_that_ended_is_refused() -> None:
    script = [
        *CLINICAL_PLAN,
        "day 5 item pt stopped as nurse_case_manager "
        '{"ended_on": "2026-01-10", "stop_reason": "plateau"}',
        'day 6 item pt session_recorded as therapist {"session_date": "2026-01-11"}',
    ]
    with pytest.raises(ScriptError) as info:
        simulate("clinical", parse_script("\n".join(script)))
    assert info.value.line == len(script)
    assert "'pt'" in str(info.value)
    assert "item state 'stopped'" in str(info.value)


def test_hospital_discharge_waits_for_every_authorization_decision() -> None:
    record = {
        "patient_id": "P-0508",
        "program": "acute",
        "priority": "expedited",
        "risk_level": "high",
        "medicare_beneficiary": False,
    }
    lead_in = [
        f"day 0 open {json.dumps(record)}",
        'day 0 10:00 admission_review_completed as utilization_reviewer {"continued_stay_days": 5}',
        "day 1 discharge_planning_started as case_manager",
        'day 1 item add education id edu as case_manager {"topic": "medication"}',
        "day 1 item edu teach_back_passed as case_manager",
        "day 1 10:00 item add authorization id dme as case_manager "
        '{"service": "durable_medical_equipment", "urgency": "urgent", '
        '"payer_type": "medicaid_managed_care"}',
    ]
    order = 'day 2 discharge_ordered as attending_physician {"disposition": "home"}'
    with pytest.raises(ScriptError, match="rejected in state 'discharge_planning'"):
        simulate("hospital", parse_script("\n".join([*lead_in, order])))
    tl = simulate(
        "hospital",
        parse_script(
            "\n".join(
                [
                    *lead_in,
                    "day 5 item dme approved as payer",
                    order.replace("day 2", "day 5") + " expect discharge_pending",
                ]
            )
        ),
    )
    # the urgent request was escalated 72 hours after it was made (CMS-0057-F)
    (late,) = [e for e in tl.entries if e.event == "urgent_decision_deadline"]
    assert late.local.date == "2026-01-09"
    assert late.local.time == "10:00"
    assert "escalate_to_payer" in late.actions
    assert tl.final_state == "discharge_pending"
