"""The bundled workflows' compliance deadlines, checked in virtual time with the simulator.

Each test runs one case of a bundled workflow through ``casework simulate``'s
engine (:func:`engine.simulation.simulator.simulate`) and reads the timeline:

* for each model, the periodic reassessment or review falls due on the date
  its rule gives, with and without a 30-day hold in between (a hold neither
  pauses nor restarts it);
* a contact gap longer than the model's interval is flagged by the model's
  watchdog within a day of the interval's end;
* the hospital's Important Message from Medicare is escalated when it is
  missing, after the first admission and after a readmission; the admission
  review counts federal working days (42 CFR 456.126); the continued-stay
  review fires once while a prior authorization is pending; a stale discharge
  copy is detected and refused.

Dates are local dates of the workflow's time zone; the simulation starts on
Monday 5 January 2026 at 09:00 local unless a test says otherwise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.simulation.script import ScriptError, parse_script
from engine.simulation.simulator import open_simulation, simulate
from engine.simulation.timeline import Timeline, TimelineEntry


def _rec(**fields: Any) -> str:
    base = {"priority": "routine", "risk_level": "moderate"}
    return json.dumps(base | fields)


def _ev(when: str, event: str, roles: str, expect: str | None = None, **payload: Any) -> str:
    """One script line: ``WHEN EVENT as ROLES {payload} [expect STATE]``."""
    line = f"{when} {event} as {roles}"
    if payload:
        line += " " + json.dumps(payload)
    return line + (f" expect {expect}" if expect else "")


def _fired(tl: Timeline, event: str) -> list[TimelineEntry]:
    """Entries where the engine itself (a timer or a case clock) sent ``event``."""
    return [e for e in tl.entries if e.event == event and e.actor == "timer"]


def _local_date(e: TimelineEntry) -> date:
    return date.fromisoformat(e.local.date)


def _run(workflow: str, lines: list[str], *, start: str | None = None) -> Timeline:
    return simulate(workflow, parse_script("\n".join(lines)), start=start)


@dataclass(frozen=True)
class Model:
    workflow: str
    lead_in: tuple[str, ...]  # opens the case and starts the review clock
    review_event: str  # what the review clock sends
    review_due: date  # the date the rule gives
    hold: tuple[str, str]  # put on hold / resume, 30 days apart, before the review date
    watched_contact: str  # a contact that resets the contact watchdog (at day `contact_day`)
    contact_day: int
    contact_interval: timedelta | tuple[int, int]  # days, or (months, 0) for calendar months


TARGETED = Model(
    workflow="targeted",
    lead_in=(
        f"day 0 open {_rec(patient_id='P-9001', program='tcm-cmi')}",
        _ev(
            "day 0",
            "eligibility_verified",
            "eligibility_specialist",
            target_group="chronic_mental_illness",
        ),
        _ev(
            "day 1",
            "first_contact_made",
            "case_manager",
            contact_date="2026-01-06",
            provider_choice_offered=True,
        ),
        _ev(
            "day 3",
            "assessment_completed",
            "case_manager",
            assessment_date="2026-01-08",
            risk_level="moderate",
        ),
        _ev(
            "day 5",
            "care_plan_signed",
            "case_manager",
            care_plan_goals=["Keep Medicaid coverage"],
            services_timeline_days=30,
            plan_reevaluation_date="2027-06-01",
            services_declined=["transport"],
        ),
        "day 8 referrals_completed as case_manager expect monitoring_follow_up",
    ),
    # 12 months from the last assessment date (42 CFR 440.169(d)(1)).
    review_event="reassessment_due",
    review_due=date(2027, 1, 8),
    hold=(
        'day 200 put_on_hold as case_manager {"hold_reason": "hospitalised"}',
        "day 230 resume as case_manager expect monitoring_follow_up",
    ),
    watched_contact="item add service_entry as case_manager "
    + json.dumps(
        {
            "date": "2026-02-14",
            "provider_agency": "tcm-agency-02",
            "provider_person": "cm-41",
            "nature": "monitoring",
            "content": "service_check",
            "units": 1,
            "mode": "phone",
            "location": "office",
            "duration_minutes": 15,
            "goals_achieved": "partly_achieved",
        }
    ),
    contact_day=40,
    contact_interval=(1, 0),  # monthly (North Carolina TCM rule)
)

BROKERAGE = Model(
    workflow="brokerage",
    lead_in=(
        f"day 0 open {_rec(patient_id='P-9002', program='community-brokerage')}",
        _ev(
            "day 1",
            "first_contact_made",
            "intake_coordinator",
            contact_date="2026-01-06",
            case_manager_id="cm-17",
        ),
        _ev(
            "day 10",
            "assessment_completed",
            "case_manager",
            assessed_needs=["housing", "transportation"],
            risk_level="moderate",
        ),
        _ev(
            "day 20",
            "plan_completed",
            "case_manager",
            plan_services=["transport"],
            plan_start_date="2026-01-25",
        ),
        'day 21 item add referral id ref-1 as case_manager {"provider": "ride-line-02", '
        '"service": "transport", "sent_on": "2026-01-26"} expect referrals_pending',
        'day 30 item ref-1 accepted as case_manager {"answered_on": "2026-02-04"} '
        "expect monitoring",
    ),
    # Plan renewed annually from the plan (South Dakota program rule).
    review_event="annual_review_due",
    review_due=date(2027, 1, 25),
    hold=(
        'day 200 put_on_hold as case_manager {"hold_reason": "hospitalised"}',
        "day 230 resume as case_manager expect monitoring",
    ),
    watched_contact='monitoring_contact_made as case_manager {"contact_date": "2026-03-06"}',
    contact_day=60,
    contact_interval=(3, 0),  # quarterly (brokerage model practice)
)

CLINICAL = Model(
    workflow="clinical",
    lead_in=(
        f"day 0 open {_rec(patient_id='P-9003', program='rehab-clinical')}",
        'day 1 first_contact_made as intake_coordinator {"contact_date": "2026-01-06"}',
        _ev(
            "day 3",
            "assessment_completed",
            "nurse_case_manager",
            clinical_needs=["mobility"],
            risk_level="high",
        ),
        "day 4 item add service as nurse_case_manager "
        '{"service": "physical_therapy", "goals": ["Walk without crutches"]}',
        "day 5 care_plan_agreed as nurse_case_manager "
        '{"plan_start_date": "2026-01-10"} expect coordinating_services',
    ),
    # 90 days from the agreed plan (agency policy).
    review_event="plan_review_due",
    review_due=date(2026, 4, 10),
    hold=(
        'day 20 put_on_hold as case_manager {"hold_reason": "hospitalised"}',
        "day 50 resume as case_manager expect coordinating_services",
    ),
    watched_contact="item add contact as case_manager "
    '{"date": "2026-01-25", "mode": "phone", "kind": "check_in"}',
    contact_day=20,
    contact_interval=timedelta(weeks=4),  # every 1 to 4 weeks (clinical model)
)

STRENGTHS = Model(
    workflow="strengths_based",
    lead_in=(
        f"day 0 open {_rec(patient_id='P-9004', program='strengths-mh')}",
        'day 1 first_contact_made as case_manager {"contact_date": "2026-01-06"}',
        "day 2 client_engaged as case_manager",
        "day 4 item add strengths_assessment as case_manager "
        '{"domains": [{"domain": "leisure", "current_status": "Plays guitar"}], '
        '"natural_supports": [{"kind": "family"}], "updated_on": "2026-01-09"}',
        'day 4 strengths_assessment_completed as case_manager {"risk_level": "moderate"}',
        'day 5 item add goal as case_manager {"goal": "Get my own apartment", "domain": "housing"}',
        "day 6 recovery_plan_agreed as case_manager expect working_on_goals",
    ),
    # 6 months from the agreed plan (agency policy, the strengths model's fidelity-review cycle).
    review_event="plan_review_due",
    review_due=date(2026, 7, 11),
    hold=(
        'day 30 put_on_hold as case_manager {"hold_reason": "hospitalised"}',
        "day 60 resume as case_manager expect working_on_goals",
    ),
    watched_contact='community_contact as case_manager {"contact_date": "2026-01-15"}',
    contact_day=10,
    contact_interval=timedelta(days=14),  # every two weeks (strengths-model practice)
)

INTENSIVE = Model(
    workflow="intensive",
    lead_in=(
        f"day 0 open {_rec(patient_id='P-9005', program='act-team-east')}",
        "day 0 referral_accepted as intake_coordinator expect outreach",
        'day 1 first_contact_made as case_manager {"contact_date": "2026-01-06"}',
        _ev(
            "day 3",
            "assessment_completed",
            "nurse",
            assessed_domains=["psychiatric"],
            risk_level="high",
        ),
        _ev(
            "day 5",
            "treatment_plan_signed",
            "team_psychiatrist",
            expect="active_treatment",
            treatment_goals=["Stay out of hospital"],
        ),
    ),
    # 6 months from the signed plan (ACT standard).
    review_event="treatment_plan_review_due",
    review_due=date(2026, 7, 10),
    hold=(
        'day 30 put_on_hold as case_manager {"hold_reason": "hospitalised"}',
        "day 60 resume as case_manager expect active_treatment",
    ),
    watched_contact="item add contact as case_manager "
    + json.dumps(
        {
            "date": "2026-01-13",
            "mode": "face_to_face",
            "location": "home",
            "duration_minutes": 45,
            "units": 3,
            "purpose": "treatment",
        }
    ),
    contact_day=8,
    contact_interval=timedelta(days=7),  # at least weekly (intensive case management)
)

MODELS = [TARGETED, BROKERAGE, CLINICAL, STRENGTHS, INTENSIVE]
START = date(2026, 1, 5)


def _day_of(d: date) -> int:
    return (d - START).days


@pytest.mark.parametrize("with_hold", [False, True], ids=["no_hold", "30_day_hold"])
@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.workflow)
def test_periodic_review_falls_due_on_the_rule_date_whatever_the_holds(
    model: Model, with_hold: bool
) -> None:
    lines = list(model.lead_in)
    if with_hold:
        lines += list(model.hold)
    lines.append(f"day {_day_of(model.review_due) + 3} nothing")
    tl = _run(model.workflow, lines)
    fired = _fired(tl, model.review_event)
    assert fired, f"{model.review_event} never fired"
    assert _local_date(fired[0]) == model.review_due
    # a deadline fires once per start
    assert len(fired) == 1


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.workflow)
def test_periodic_review_due_during_a_hold_still_fires_on_its_date(model: Model) -> None:
    due = _day_of(model.review_due)
    lines = [
        *model.lead_in,
        f'day {due - 10} put_on_hold as case_manager {{"hold_reason": "hospitalised"}}',
        f"day {due + 20} resume as case_manager",
        f"day {due + 21} nothing",
    ]
    tl = _run(model.workflow, lines)
    fired = _fired(tl, model.review_event)
    assert [_local_date(e) for e in fired] == [model.review_due]
    assert fired[0].from_state == "on_hold"
    assert fired[0].to_state == "on_hold"
    assert fired[0].actions, "a review falling due on hold must tell someone"


def _interval_end(model: Model) -> date:
    contact = START + timedelta(days=model.contact_day)
    if isinstance(model.contact_interval, timedelta):
        return contact + model.contact_interval
    months = model.contact_interval[0]
    m = contact.month - 1 + months
    return contact.replace(year=contact.year + m // 12, month=m % 12 + 1)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.workflow)
def test_a_contact_gap_longer_than_the_interval_is_flagged_within_a_day(model: Model) -> None:
    end = _interval_end(model)
    lines = [
        *model.lead_in,
        f"day {model.contact_day} {model.watched_contact}",
        f"day {_day_of(end) + 5} nothing",
    ]
    tl = _run(model.workflow, lines)
    contact_at = START + timedelta(days=model.contact_day)
    lapses = [e for e in _fired(tl, "contact_lapsed") if _local_date(e) > contact_at]
    assert lapses, "the contact gap was not flagged"
    first = _local_date(lapses[0])
    assert end <= first <= end + timedelta(days=1)
    assert "flag_contact_lapse" in lapses[0].actions


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.workflow)
def test_regular_contact_is_never_flagged(model: Model) -> None:
    end = _interval_end(model)
    step = max(1, (end - START - timedelta(days=model.contact_day)).days // 2)
    lines = list(model.lead_in)
    first = model.contact_day
    days = list(range(first, first + 6 * step, step))
    for d in days:
        lines.append(f"day {d} {model.watched_contact}")
    tl = _run(model.workflow, lines)
    after = START + timedelta(days=first)
    assert not [e for e in _fired(tl, "contact_lapsed") if _local_date(e) > after]


# -- hospital --------------------------------------------------------------------------------

MEDICARE = _rec(
    patient_id="P-9501", program="acute-medicine", priority="immediate", medicare_beneficiary=True
)


def _review(when: str, days: int) -> str:
    return _ev(when, "admission_review_completed", "utilization_reviewer", continued_stay_days=days)


DISCHARGE = [
    "day 1 discharge_planning_started as case_manager",
    'day 1 item add education id edu-1 as case_manager {"topic": "medication"}',
    "day 1 item edu-1 teach_back_passed as case_manager",
    'day 1 10:00 discharge_ordered as attending_physician {"disposition": "home"}',
]


def test_missing_admission_notice_is_escalated_two_days_after_admission() -> None:
    tl = _run(
        "hospital",
        [
            f"day 0 open {MEDICARE}",
            _review("day 0 10:00", 5),
            "day 4 nothing",
        ],
    )
    fired = _fired(tl, "im_notice_due")
    assert [_local_date(e) for e in fired] == [date(2026, 1, 7)]
    assert "escalate_missing_im_notice" in fired[0].actions
    # the admission review leaving `admitted` did not cancel the notice clock
    assert fired[0].from_state == "concurrent_review"


def test_delivered_admission_notice_stops_the_clock() -> None:
    tl = _run(
        "hospital",
        [
            f"day 0 open {MEDICARE}",
            "day 0 10:00 im_notice_delivered as case_manager",
            _review("day 0 11:00", 5),
            "day 4 nothing",
        ],
    )
    assert not [e for e in _fired(tl, "im_notice_due") if e.actions]


def test_missing_notice_after_a_readmission_is_escalated_and_the_admission_review_restarts() -> (
    None
):
    tl = _run(
        "hospital",
        [
            f"day 0 open {MEDICARE}",
            "day 0 10:00 im_notice_delivered as case_manager",
            _review("day 0 11:00", 5),
            *DISCHARGE,
            # the admission notice is under 2 days old: no follow-up copy needed (405.1205(c))
            "day 1 12:00 patient_discharged as case_manager expect post_discharge_contact",
            # Monday 12 January: readmitted, no new notice
            "day 7 readmitted as utilization_reviewer expect admitted",
            "day 12 nothing",
        ],
    )
    notices = _fired(tl, "im_notice_due")
    escalated = [e for e in notices if "escalate_missing_im_notice" in e.actions]
    assert [_local_date(e) for e in escalated] == [date(2026, 1, 14)]
    overdue = _fired(tl, "admission_review_overdue")
    # first admission reviewed in time; the readmission's review is 2 working days late
    assert [_local_date(e) for e in overdue] == [date(2026, 1, 14)]


def test_admission_review_counts_federal_working_days_not_the_state_list() -> None:
    # Friday 27 February 2026; Monday 2 March is Texas Independence Day, a federal working day.
    tl = _run(
        "hospital",
        [
            f"day 0 open {MEDICARE}",
            "day 0 10:00 im_notice_delivered as case_manager",
            "day 6 nothing",
        ],
        start="2026-02-27T09:00",
    )
    overdue = _fired(tl, "admission_review_overdue")
    assert [_local_date(e) for e in overdue] == [date(2026, 3, 3)]


def test_continued_stay_review_fires_once_while_an_authorization_is_pending() -> None:
    tl = _run(
        "hospital",
        [
            f"day 0 open {MEDICARE}",
            "day 0 10:00 im_notice_delivered as case_manager",
            _review("day 0 11:00", 3),
            "day 1 discharge_planning_started as case_manager",
            "day 1 10:00 item add authorization id auth-snf as case_manager "
            '{"service": "skilled_nursing", "urgency": "standard", '
            '"payer_type": "medicaid_managed_care"} expect discharge_planning',
            "day 4 item auth-snf approved as payer expect discharge_planning",
            "day 10 nothing",
        ],
    )
    reviews = _fired(tl, "continued_stay_review_due")
    assert len(reviews) == 1
    assert (reviews[0].local.date, reviews[0].local.time) == ("2026-01-08", "11:00")
    # the case stays in discharge planning while the payer decides (the request is an item)
    assert reviews[0].from_state == "discharge_planning"
    approved = [e for e in tl.entries if e.item_id == "auth-snf" and e.event == "approved"]
    assert [(e.item_from, e.item_to) for e in approved] == [("requested", "approved")]


def test_stale_discharge_copy_is_detected_and_does_not_count() -> None:
    *before, refused, fresh, discharged = parse_script(
        "\n".join(
            [
                f"day 0 open {MEDICARE}",
                "day 0 10:00 im_notice_delivered as case_manager",
                _review("day 0 11:00", 9),
                *DISCHARGE,
                "day 2 discharge_notice_delivered as case_manager",
                "day 5 nothing",
                # both notices are now more than 2 days old (42 CFR 405.1205(c))
                "day 5 10:00 patient_discharged as case_manager",
                "day 5 11:00 discharge_notice_delivered as case_manager",
                "day 5 12:00 patient_discharged as case_manager expect post_discharge_contact",
            ]
        )
    )
    with open_simulation("hospital") as sim:
        sim.run(before)
        with pytest.raises(ScriptError, match="rejected in state 'discharge_pending'"):
            sim.step(refused)
        sim.run([fresh, discharged])
        tl = sim.timeline()
    stale = _fired(tl, "discharge_notice_stale")
    assert [_local_date(e) for e in stale] == [date(2026, 1, 9)]
    assert "request_fresh_discharge_notice" in stale[0].actions


# -- the example in docs/workflows.md --------------------------------------------------------

WORKFLOWS_DOC = Path(__file__).resolve().parents[2] / "docs" / "workflows.md"


def test_workflows_doc_example_falls_due_on_the_dates_it_names() -> None:
    text = WORKFLOWS_DOC.read_text(encoding="utf-8")
    start = text.index("<!-- example: targeted_reassessment_on_hold -->")
    block = text[start : text.index("<!-- /example -->", start)]
    script = block[block.index("```text\n") + len("```text\n") : block.rindex("```")]
    tl = simulate("targeted", parse_script(script))
    assert tl.final_state == "reassessment"
    (due,) = _fired(tl, "reassessment_due")
    assert due.local.date == "2027-01-08"
    assert due.from_state == "on_hold"
    (reeval,) = _fired(tl, "plan_reevaluation_due")
    assert (reeval.local.weekday, reeval.local.date, reeval.local.time) == (
        "Wed",
        "2026-07-01",
        "09:00",
    )
    lapses = _fired(tl, "contact_lapsed")
    assert lapses[0].local.date == "2026-02-06"  # a month after the first contact
    assert _fired(tl, "home_visit_lapsed")[0].local.date == "2026-04-13"
