"""`describe` tables and `describe_dict` JSON: every event, who may send it, timers, actions."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from engine.definitions import load_workflow
from engine.definitions.describe import (
    describe,
    describe_dict,
    roles_text,
    table,
    timer_when,
)
from engine.definitions.model import (
    PREVIOUS_STATE,
    Calendar,
    Duration,
    Model,
    Phase,
    Role,
    State,
    Timer,
    TimerKind,
    Transition,
    WorkflowDefinition,
)

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_FILES = sorted((ROOT / "workflows").glob("*.yaml"))


def small() -> WorkflowDefinition:
    states = {
        "referred": State(
            "referred",
            Phase.INTAKE,
            "Referral received. The coordinator calls within three business days.",
            on_enter=("notify_intake",),
            timers=(
                Timer(
                    "first_contact",
                    "referred",
                    "first_contact_overdue",
                    TimerKind.BUSINESS_DAYS,
                    business_days=3,
                    pausable=True,
                ),
            ),
        ),
        "monitoring": State(
            "monitoring",
            Phase.MONITORING,
            "Weekly contact.",
            on_exit=("close_tasks",),
            timers=(
                Timer(
                    "weekly",
                    "monitoring",
                    "contact_due",
                    TimerKind.EVERY,
                    every=Duration("P7D", days=7),
                ),
            ),
        ),
        "on_hold": State("on_hold", Phase.MONITORING, "Hospitalised.", hold=True),
        "closed": State("closed", Phase.CLOSURE, "Goals met.", final=True),
    }
    transitions = (
        Transition(
            "referred",
            "contact_made",
            "monitoring",
            guard="event.reached == true",
            roles=("intake_coordinator", "case_manager"),
            writes=(("first_contact_date", "contact_date"), ("channel", "channel")),
            sets=(("contact_attempts", "0"),),
            actions=("send_welcome_letter",),
        ),
        Transition("referred", "first_contact_overdue", None, actions=("notify_supervisor",)),
        Transition("monitoring", "contact_due", None),
        Transition("monitoring", "put_on_hold", "on_hold", roles=("case_manager",)),
        Transition("monitoring", "goals_met", "closed", roles=("supervisor",)),
        Transition("on_hold", "resume", PREVIOUS_STATE, roles=("case_manager",)),
    )
    return WorkflowDefinition(
        name="small",
        version=3,
        title="Small program",
        description="Used by the describe tests.",
        model=Model.TARGETED,
        initial="referred",
        case_schema={"type": "object", "properties": {"channel": {"type": "string"}}},
        roles={
            "intake_coordinator": Role("intake_coordinator", "Screens referrals."),
            "case_manager": Role("case_manager"),
            "supervisor": Role("supervisor"),
        },
        states=states,
        transitions=transitions,
        timezone="America/Chicago",
        calendar=Calendar("US", "TX", ("2026-12-24",)),
        parameters={"first_contact_days": 3, "cadence": Duration("P7D", days=7)},
    )


def section(text: str, state: str) -> str:
    """The detail block of one state."""
    match = re.search(rf"^State {state} \(.*?(?=^State |\Z)", text, re.M | re.S)
    assert match, state
    return match.group(0)


def test_describe_header_names_identity_model_time_zone_calendar_and_initial() -> None:
    text = describe(small())
    assert text.startswith("small v3: Small program\n")
    assert re.search(r"^  model:\s+targeted$", text, re.M)
    assert re.search(r"^  time zone:\s+America/Chicago$", text, re.M)
    assert re.search(r"^  calendar:\s+US-TX \(\+1 extra holiday\)$", text, re.M)
    assert re.search(r"^  initial:\s+referred$", text, re.M)
    assert re.search(r"^  final:\s+closed$", text, re.M)


def test_describe_lists_states_by_phase_in_phase_order() -> None:
    text = describe(small())
    overview = text.split("Phases and states\n", 1)[1].split("\n\n", 1)[0]
    rows = [ln.split() for ln in overview.splitlines()[2:]]
    assert [r[0] for r in rows if r[0] in {"intake", "monitoring", "closure"}] == [
        "intake",
        "monitoring",
        "closure",
    ]
    for kind in ("initial", "hold", "final"):
        assert kind in overview


def test_describe_shows_each_event_with_target_guard_roles_and_writes() -> None:
    block = section(describe(small()), "referred")
    row = next(ln for ln in block.splitlines() if ln.strip().startswith("contact_made"))
    assert "monitoring" in row
    assert "event.reached == true" in row
    assert "intake_coordinator," in row
    assert "first_contact_date<-contact_date" in block
    assert "contact_attempts := 0" in block
    assert "case_manager" in block


def test_describe_marks_timer_only_events_and_internal_and_resume_targets() -> None:
    text = describe(small())
    overdue = next(
        ln for ln in section(text, "referred").splitlines() if "first_contact_overdue" in ln
    )
    assert "(stays)" in overdue
    assert "(engine only)" in overdue
    resume = next(ln for ln in section(text, "on_hold").splitlines() if "resume" in ln)
    assert "@previous" in resume


def test_describe_shows_timers_with_when_event_and_pausable() -> None:
    text = describe(small())
    row = next(ln for ln in section(text, "referred").splitlines() if "first_contact " in ln)
    assert row.split() == [
        "first_contact",
        "after",
        "3",
        "business",
        "days",
        "first_contact_overdue",
        "yes",
    ]
    assert "every P7D" in section(text, "monitoring")


def test_describe_shows_state_and_transition_actions() -> None:
    text = describe(small())
    block = section(text, "referred")
    assert "on enter: notify_intake" in block
    assert "on contact_made -> monitoring: send_welcome_letter" in block
    assert "on exit: close_tasks" in section(text, "monitoring")


def test_describe_says_final_states_have_no_events() -> None:
    assert "events: none (final state)" in section(describe(small()), "closed")


def test_describe_dict_is_json_with_every_state_event_and_timer() -> None:
    data = describe_dict(small())
    json.dumps(data)  # JSON-ready, including Duration parameters
    assert data["parameters"] == {"first_contact_days": 3, "cadence": "P7D"}
    assert data["calendar"] == {
        "country": "US",
        "subdivision": "TX",
        "extra_holidays": ["2026-12-24"],
    }
    states = {s["name"]: s for p in data["phases"] for s in p["states"]}
    assert list(states) == ["referred", "monitoring", "on_hold", "closed"]
    assert [p["phase"] for p in data["phases"]] == ["intake", "monitoring", "closure"]
    contact = states["referred"]["events"][0]
    assert contact["event"] == "contact_made"
    assert contact["roles"] == ["intake_coordinator", "case_manager"]
    assert contact["writes"][0] == {
        "case_field": "first_contact_date",
        "payload_field": "contact_date",
    }
    timer = states["referred"]["timers"][0]
    assert timer["kind"] == "business_days"
    assert timer["when"] == "after 3 business days"
    assert timer["pausable"] is True
    assert states["on_hold"]["hold"] is True
    assert states["referred"]["initial"] is True


def test_timer_when_words_each_kind() -> None:
    def timer(kind: TimerKind, **kw: object) -> Timer:
        return Timer("t", "s", "e", kind, **kw)  # type: ignore[arg-type]

    assert timer_when(timer(TimerKind.AFTER, after=Duration("P14D", days=14))) == "after P14D"
    assert timer_when(timer(TimerKind.BUSINESS_DAYS, business_days=1)) == "after 1 business day"
    assert (
        timer_when(timer(TimerKind.AT, at="case.discharge", offset=Duration("P30D", days=30)))
        == "at case.discharge + P30D"
    )
    assert timer_when(timer(TimerKind.EVERY, every=Duration("P7D", days=7))) == "every P7D"


def test_table_wraps_long_cells_without_losing_text() -> None:
    long = " ".join(f"field_{i}" for i in range(40))
    lines = table(["event", "writes"], [["go", long]], width=60)
    assert all(len(ln) <= 60 for ln in lines)
    assert len(lines) > 3
    column = len("event  ")
    assert " ".join(ln[column:] for ln in lines[2:]).split() == long.split()


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.stem)
def test_describe_of_bundled_workflow_lists_every_event_and_who_may_send_it(path: Path) -> None:
    defn = load_workflow(path)
    text = describe(defn)
    data = describe_dict(defn)
    json.dumps(data)
    by_state = {s["name"]: s for p in data["phases"] for s in p["states"]}
    assert set(by_state) == set(defn.states)
    for state in defn.states:
        block = " ".join(section(text, state).split())  # wrapped cells joined back
        for t in defn.transitions_from(state):
            assert t.event in block, (state, t.event)
            for role in t.roles:
                assert role in block, (state, t.event, role)
            assert (t.target or "(stays)") in block
            assert roles_text(t).split(",")[0] in block
        listed = [(e["event"], e["target"], e["roles"]) for e in by_state[state]["events"]]
        assert listed == [(t.event, t.target, list(t.roles)) for t in defn.transitions_from(state)]
