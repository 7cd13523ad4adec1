"""Every bundled workflow validates, and every scripted path walks it to closure.

The walker here is deliberately small and pure: it runs a scripted path
(``tests/paths/<name>.yaml``, format in the contracts) on the loaded
:class:`WorkflowDefinition` without the engine, so a mistake in a workflow or
a path is caught here, before the engine and scheduler tests drive the same
paths. Semantics it follows (those of the workflow language):

- the first transition of the current state with the event, whose roles
  intersect the sender's roles and whose guard is true, is taken; timer
  firings (roles ``("system",)``) may take transitions that list no roles;
- ``writes`` copy payload fields, ``set`` evaluates CEL against the case as it
  was before the change; the record must stay valid for ``case_schema``;
- internal transitions keep the state and its timers; any other transition
  (a self-transition too) re-enters and re-arms timers;
- entering a ``hold`` state suspends the pausable timers of the state left;
  ``@previous`` returns there and resumes them with the time that was left;
- ``advance`` moves the clock, then fires due timers of the current state in
  due order (``every`` timers re-arm with ``next_recurrence``).

Each path is run from several start instants (an ordinary week, the
Christmas/New Year holidays, the spring daylight-saving change) so that its
``advance`` steps do not depend on when the engine's clock happens to start.
Since the workflows declare case clocks (deadlines and watchdogs that run
across states), the paths themselves are replayed on the real engine in
virtual time (:mod:`engine.simulation`); the walker still checks the
state-timer semantics above on its own tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from engine.definitions import load_workflow, load_workflows
from engine.definitions.clocks import ClockKind
from engine.definitions.durations import parse_duration
from engine.definitions.expressions import compile_expression
from engine.definitions.model import (
    PREVIOUS_STATE,
    Duration,
    Phase,
    Timer,
    TimerKind,
    Transition,
    WorkflowDefinition,
)
from engine.simulation.script import steps_from_path
from engine.simulation.simulator import open_simulation
from engine.timing.calendar import add_duration, zone
from engine.timing.due import first_due, next_recurrence

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS_DIR = ROOT / "workflows"
PATHS_DIR = Path(__file__).resolve().parent / "paths"
SYSTEM_ROLES = ("system",)

WORKFLOW_FILES = sorted(WORKFLOWS_DIR.glob("*.yaml"))
WORKFLOW_NAMES = [p.stem for p in WORKFLOW_FILES]
EXPECTED_WORKFLOWS = {
    "brokerage",
    "clinical",
    "strengths_based",
    "intensive",
    "targeted",
    "hospital",
}

START_INSTANTS = {
    "ordinary_week": datetime(2026, 3, 2, 15, 0, tzinfo=UTC),  # a Monday
    "year_end_holidays": datetime(2026, 12, 23, 22, 30, tzinfo=UTC),  # Wednesday before Christmas
    "spring_dst_change": datetime(2026, 3, 6, 20, 0, tzinfo=UTC),  # Friday before DST starts
}


class PathFailure(AssertionError):
    """A scripted path does not run on its workflow."""


# -- the walker ----------------------------------------------------------------


@dataclass
class ArmedTimer:
    timer: Timer
    due: datetime


@dataclass
class Walker:
    definition: WorkflowDefinition
    now: datetime
    case: dict[str, Any] = field(default_factory=dict)
    state: str = ""
    armed: list[ArmedTimer] = field(default_factory=list)
    # (state left when entering a hold state, its suspended pausable timers as time left)
    held_from: tuple[str, dict[str, Any]] | None = None
    fired: list[str] = field(default_factory=list)

    @property
    def tz(self) -> Any:
        return zone(self.definition.timezone)

    def open(self, record: Mapping[str, Any]) -> None:
        case = dict(record)
        for name, prop in self.definition.case_schema.get("properties", {}).items():
            if name not in case and isinstance(prop, dict) and "default" in prop:
                case[name] = prop["default"]
        self._check_case(case, "@open")
        self.case = case
        self._enter(self.definition.initial, resumed=None)

    def send(
        self,
        event: str,
        payload: Mapping[str, Any] | None,
        roles: Sequence[str],
    ) -> None:
        payload = dict(payload or {})
        transition = self._choose(event, payload, roles)
        self._take(transition, payload)

    def advance(self, duration: Duration) -> None:
        self.now = add_duration(self.now, duration, self.tz)
        for _ in range(1000):  # bounded: a path never fires this many timers
            due = sorted(
                (a for a in self.armed if a.due <= self.now),
                key=lambda a: a.due,
            )
            if not due:
                return
            first = due[0]
            self.armed.remove(first)
            self.fired.append(f"{self.state}.{first.timer.name}")
            state_before = self.state
            transition = self._choose(first.timer.event, {}, SYSTEM_ROLES)
            self._take(transition, {})
            if (
                first.timer.kind is TimerKind.EVERY
                and self.state == state_before
                and (transition.internal)
            ):
                next_due, _missed = next_recurrence(
                    first.timer, previous_due=first.due, now=self.now, definition=self.definition
                )
                self.armed.append(ArmedTimer(first.timer, next_due))
        raise PathFailure("timers keep firing: an every timer with no period?")

    # -- internals -------------------------------------------------------------

    def _choose(self, event: str, payload: Mapping[str, Any], roles: Sequence[str]) -> Transition:
        system = tuple(roles) == SYSTEM_ROLES
        candidates = [t for t in self.definition.transitions_from(self.state) if t.event == event]
        if not candidates:
            raise PathFailure(f"state {self.state!r} has no transition for event {event!r}")
        for t in candidates:
            allowed = (
                (not t.roles or "system" in t.roles) if system else bool(set(t.roles) & set(roles))
            )
            if not allowed:
                continue
            if t.payload_schema is not None:
                try:
                    jsonschema.validate(payload, t.payload_schema)
                except jsonschema.ValidationError as exc:
                    raise PathFailure(
                        f"payload of {event!r} in {self.state!r} invalid at {exc.json_path}"
                    ) from None
            if t.guard is None or self._eval(t.guard, payload) is True:
                return t
        raise PathFailure(
            f"no transition for {event!r} in {self.state!r} allowed for roles {list(roles)} "
            "with a true guard"
        )

    def _eval(self, source: str, payload: Mapping[str, Any]) -> Any:
        return compile_expression(source).evaluate(
            case=self.case, event=payload, params=self.definition.parameters, now=self.now
        )

    def _take(self, t: Transition, payload: Mapping[str, Any]) -> None:
        new_case = dict(self.case)
        for case_field, payload_field in t.writes:
            if payload_field in payload:
                new_case[case_field] = payload[payload_field]
        for case_field, source in t.sets:
            new_case[case_field] = self._eval(source, payload)  # against the old case
        self._check_case(new_case, t.event)
        self.case = new_case
        if t.target is None:
            return
        left = self.state
        if t.target == PREVIOUS_STATE:
            if self.held_from is None:
                raise PathFailure(f"{t.event!r}: @previous without a state to return to")
            target, suspended = self.held_from
            self.held_from = None
            self._enter(target, resumed=suspended)
            return
        target_state = self.definition.states[t.target]
        if target_state.hold and not self.definition.states[left].hold:
            suspended = {a.timer.name: a.due - self.now for a in self.armed if a.timer.pausable}
            self.held_from = (left, suspended)
        elif not target_state.hold:
            self.held_from = None
        self._enter(t.target, resumed=None)

    def _enter(self, state: str, *, resumed: Mapping[str, Any] | None) -> None:
        self.state = state
        self.armed = []
        for timer in self.definition.timers_of(state):
            if resumed is not None and timer.name in resumed:
                self.armed.append(ArmedTimer(timer, self.now + resumed[timer.name]))
                continue
            due = first_due(
                timer, entered_at=self.now, definition=self.definition, case=self.case, now=self.now
            )
            if due is not None:
                self.armed.append(ArmedTimer(timer, due))

    def _check_case(self, case: Mapping[str, Any], event: str) -> None:
        try:
            jsonschema.validate(case, self.definition.case_schema)
        except jsonschema.ValidationError as exc:
            raise PathFailure(
                f"case record invalid after {event!r} at {exc.json_path}: {exc.validator}"
            ) from None


def walk(definition: WorkflowDefinition, path: Mapping[str, Any], start: datetime) -> Walker:
    walker = Walker(definition=definition, now=start)
    walker.open(path["record"])
    for number, step in enumerate(path["steps"], start=1):
        where = f"path {path['name']!r} step {number}"
        try:
            if "advance" in step:
                walker.advance(parse_duration(step["advance"]))
            else:
                walker.send(step["event"], step.get("payload"), step["roles"])
        except PathFailure as exc:
            raise PathFailure(f"{where}: {exc}") from None
        if "expect" in step and walker.state != step["expect"]:
            raise PathFailure(
                f"{where}: expected state {step['expect']!r}, the case is in {walker.state!r} "
                f"(timers fired so far: {walker.fired})"
            )
    return walker


# -- helpers -------------------------------------------------------------------


def load_paths(name: str) -> dict[str, Any]:
    with (PATHS_DIR / f"{name}.yaml").open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def all_paths() -> list[Any]:
    cases = []
    for name in WORKFLOW_NAMES:
        if not (PATHS_DIR / f"{name}.yaml").exists():
            continue  # test_every_workflow_has_a_path_file... reports it
        for path in load_paths(name)["paths"]:
            for start_name in START_INSTANTS:
                cases.append(
                    pytest.param(
                        name, path["name"], start_name, id=f"{name}-{path['name']}-{start_name}"
                    )
                )
    return cases


_definitions: dict[str, WorkflowDefinition] = {}


def definition_of(name: str) -> WorkflowDefinition:
    if name not in _definitions:
        _definitions[name] = load_workflow(WORKFLOWS_DIR / f"{name}.yaml")
    return _definitions[name]


def timers_where(definition: WorkflowDefinition, kind: TimerKind) -> list[Timer]:
    return [t for t in definition.all_timers() if t.kind is kind]


DAY = 86400.0


# -- validation ----------------------------------------------------------------


def test_every_model_has_a_bundled_workflow() -> None:
    assert set(WORKFLOW_NAMES) == EXPECTED_WORKFLOWS


def test_bundled_workflows_load_together() -> None:
    definitions = load_workflows([WORKFLOWS_DIR])
    assert sorted(d.name for d in definitions) == sorted(EXPECTED_WORKFLOWS)


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_workflow_validates_and_matches_its_file_name(name: str) -> None:
    definition = definition_of(name)
    assert definition.name == name
    assert definition.model.value == name


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_workflow_file_starts_with_the_schema_modeline(name: str) -> None:
    first = (WORKFLOWS_DIR / f"{name}.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../schemas/workflow.schema.json"


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_every_phase_has_a_state_and_final_states_are_closure(name: str) -> None:
    definition = definition_of(name)
    assert {s.phase for s in definition.states.values()} == set(Phase)
    for state in definition.final_states:
        assert definition.states[state].phase is Phase.CLOSURE


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_every_timer_and_parameter_names_its_rule(name: str) -> None:
    definition = definition_of(name)
    for timer in definition.all_timers():
        assert timer.description.strip(), f"{timer.state}.{timer.name} has no description"
    raw = yaml.safe_load((WORKFLOWS_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
    for param, spec in raw.get("parameters", {}).items():
        assert spec["source"].strip(), param


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_case_schema_has_the_common_fields(name: str) -> None:
    props = definition_of(name).case_schema["properties"]
    for required in ("patient_id", "program", "priority", "risk_level", "contact_attempts"):
        assert required in props
    assert props["contact_attempts"]["default"] == 0


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_withdrawal_transfer_and_death_from_every_open_state(name: str) -> None:
    definition = definition_of(name)
    for state in definition.states.values():
        if state.final:
            continue
        events = {t.event for t in definition.transitions_from(state.name)}
        assert "client_died" in events, state.name
        if state.name != "closing_review":
            assert {"client_withdrew", "transfer_out"} <= events, state.name


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_workflow_has_a_hold_state_that_resumes_to_previous(name: str) -> None:
    definition = definition_of(name)
    holds = [s for s in definition.states.values() if s.hold]
    assert holds
    for hold in holds:
        assert any(t.returns_to_previous for t in definition.transitions_from(hold.name))
    assert any(t.pausable for t in definition.all_timers())


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_three_failed_contact_attempts_close_or_hold_the_case(name: str) -> None:
    definition = definition_of(name)
    failed = [t for t in definition.transitions if t.event == "contact_attempt_failed"]
    assert failed
    assert any(dict(t.sets).get("contact_attempts") == "case.contact_attempts + 1" for t in failed)
    assert definition.parameters["max_contact_attempts"] == 3


# -- the language reference's example ------------------------------------------

LANGUAGE_DOC = ROOT / "docs" / "workflow-language.md"


def test_language_reference_example_validates_and_uses_every_construct(tmp_path: Path) -> None:
    text = LANGUAGE_DOC.read_text(encoding="utf-8")
    start = text.index("<!-- example: home_support -->")
    block = text[start : text.index("<!-- /example -->", start)]
    example = block[block.index("```yaml\n") + len("```yaml\n") : block.rindex("```")]
    folder = tmp_path / "workflows"
    (folder / "fragments").mkdir(parents=True)
    for fragment in (WORKFLOWS_DIR / "fragments").glob("*.yaml"):
        (folder / "fragments" / fragment.name).write_text(fragment.read_text(encoding="utf-8"))
    (folder / "home_support.yaml").write_text(example, encoding="utf-8")

    d = load_workflow(folder / "home_support.yaml")

    assert {t.kind for t in d.all_timers()} == set(TimerKind)
    assert any(s.hold for s in d.states.values())
    assert any(t.returns_to_previous for t in d.transitions)
    assert any(t.internal for t in d.transitions)
    assert any(t.guard for t in d.transitions)
    assert any(t.sets for t in d.transitions)
    assert any(t.actions for t in d.transitions)
    assert "closing_review" in d.states  # merged from the included fragment
    assert d.parameters["max_contact_attempts"] == 3


# -- the models differ the way real programs do --------------------------------


def cadence_days(definition: WorkflowDefinition, state: str) -> list[float]:
    return [
        t.every.approx_seconds / DAY
        for t in definition.timers_of(state)
        if t.kind is TimerKind.EVERY and t.every is not None
    ]


def service_and_monitoring_cadences(definition: WorkflowDefinition) -> list[float]:
    return [
        days
        for s in definition.states.values()
        if s.phase in (Phase.SERVICE_DELIVERY, Phase.MONITORING) and not s.hold
        for days in cadence_days(definition, s.name)
    ]


def test_intensive_contact_is_at_least_weekly() -> None:
    d = definition_of("intensive")
    assert cadence_days(d, "active_treatment")
    assert max(cadence_days(d, "active_treatment")) <= 7
    assert d.parameters["min_weekly_contacts"] >= 4
    assert all(days <= 7 for days in service_and_monitoring_cadences(d))


def test_clinical_contact_is_every_one_to_four_weeks() -> None:
    d = definition_of("clinical")
    cadences = service_and_monitoring_cadences(d)
    assert cadences
    assert all(7 <= days <= 28 for days in cadences)


def test_brokerage_contact_is_about_quarterly() -> None:
    d = definition_of("brokerage")
    assert cadence_days(d, "monitoring")
    assert min(cadence_days(d, "monitoring")) >= 60


def test_targeted_monitors_monthly_and_reassesses_within_twelve_months() -> None:
    d = definition_of("targeted")
    assert min(cadence_days(d, "monitoring_follow_up")) <= 31  # monthly contact
    clocks = {c.name: c for c in d.clocks}
    # 12 months from the last assessment date, whatever state or hold (42 CFR 440.169(d)(1))
    reassessment = clocks["annual_reassessment"]
    assert reassessment.event == "reassessment_due"
    assert reassessment.anchor == "case.last_assessment_date"
    assert not reassessment.pausable
    assert reassessment.after is not None
    assert reassessment.after.approx_seconds <= 366 * DAY
    contact = clocks["monthly_contact_check"]
    assert contact.kind is ClockKind.WATCHDOG
    assert contact.after is not None
    assert contact.after.approx_seconds <= 31 * DAY
    assert clocks["plan_reevaluation"].anchor == "case.plan_reevaluation_date"


def test_strengths_based_captures_strengths_goals_supports_and_reviews_twice_a_year() -> None:
    d = definition_of("strengths_based")
    # the strengths assessment is one living item (updated, never replaced by a second)
    assessment = d.item_types["strengths_assessment"]
    assert assessment.max_items == 1
    assert {"domains", "natural_supports"} <= set(assessment.data_schema["properties"])
    domain = assessment.data_schema["properties"]["domains"]["items"]["properties"]
    assert {"domain", "current_status", "desires", "past_resources"} <= set(domain)
    updated = [t for t in assessment.transitions if t.event == "updated"]
    assert updated
    assert updated[0].internal
    # goals in the client's words, with steps that say who and by when
    assert "goal" in d.item_types["goal"].data_schema["required"]
    step = d.item_types["goal_step"].data_schema["properties"]
    assert {"goal_id", "step", "who", "target_date", "done_on"} <= set(step)
    agreed = [t for t in d.transitions if t.event == "recovery_plan_agreed"]
    assert agreed[0].guard is not None
    assert "items.goal" in agreed[0].guard
    review = [c for c in d.clocks if c.event == "plan_review_due"]
    assert review
    assert review[0].after is not None
    assert review[0].after.months == 6
    assert not review[0].pausable  # a hold does not move the review


def test_clinical_combines_several_services_and_meets_regularly() -> None:
    d = definition_of("clinical")
    service = d.item_types["service"]
    services = set(service.data_schema["properties"]["service"]["enum"])
    assert "goals" in service.data_schema["required"]  # services with goals
    # appointments: date, provider, service, and a reminder one day before the date
    appointment = d.item_types["appointment"]
    assert {"date", "provider", "service"} <= set(appointment.data_schema["required"])
    (reminder,) = appointment.states["booked"].timers
    assert reminder.at == "item.data.date"
    assert reminder.offset is not None
    assert reminder.offset.days == -1 or reminder.offset.approx_seconds == -DAY
    contact = d.item_types["contact"].data_schema["properties"]
    assert {"phone", "face_to_face"} <= set(contact["mode"]["enum"])
    assert "financial_planning" in contact["kind"]["enum"]  # the case manager's own activity
    assert {
        "physical_therapy",
        "occupational_therapy",
        "neuropsychology",
        "mental_health",
    } <= services
    assert any(t.event == "team_meeting_due" for t in d.timers_of("coordinating_services"))


def test_brokerage_is_hands_off_and_clinical_hands_on() -> None:
    brokerage, clinical = definition_of("brokerage"), definition_of("clinical")

    def delivery_events(d: WorkflowDefinition) -> set[str]:
        delivery = {s.name for s in d.states.values() if s.phase is Phase.SERVICE_DELIVERY}
        case_events = {
            t.event for s in delivery for t in d.transitions_from(s) if t.internal and t.roles
        }
        # work the staff records as items while services are delivered
        item_events = {
            f"{it.name}.{t.event}"
            for it in d.item_types.values()
            if not it.create.case_states or delivery & set(it.create.case_states)
            for t in it.transitions
            if t.roles
        }
        return case_events | item_events

    assert len(delivery_events(clinical)) > len(delivery_events(brokerage))
    assert min(service_and_monitoring_cadences(clinical)) < min(
        service_and_monitoring_cadences(brokerage)
    )


@pytest.mark.parametrize("name", sorted(EXPECTED_WORKFLOWS - {"hospital"}))
def test_community_deadlines_first_contact_assessment_and_plan(name: str) -> None:
    d = definition_of(name)
    intake_business = [
        t
        for s in d.states.values()
        if s.phase is Phase.INTAKE
        for t in s.timers
        if t.kind in (TimerKind.BUSINESS_DAYS, TimerKind.AFTER)
    ]
    assert intake_business, "no first-contact deadline"
    assessment = [
        t.after.approx_seconds / DAY
        for s in d.states.values()
        if s.phase is Phase.ASSESSMENT
        for t in s.timers
        if t.kind is TimerKind.AFTER and t.after is not None
    ]
    planning = [
        t.after.approx_seconds / DAY
        for s in d.states.values()
        if s.phase is Phase.PLANNING
        for t in s.timers
        if t.kind is TimerKind.AFTER and t.after is not None
    ]
    assert assessment
    assert min(assessment) <= 45
    assert planning
    assert min(planning) <= 30


def test_hospital_deadlines_follow_the_regulations() -> None:
    d = definition_of("hospital")
    p = d.parameters
    assert p["adverse_notice_business_days"] == 2  # 42 CFR 456.137
    assert p["im_notice_deadline"] == "P2D"  # 42 CFR 405.1205
    assert p["urgent_authorization_deadline"] == "PT72H"  # CMS-0057-F
    assert p["standard_authorization_deadline"] == "P7D"
    assert p["tcm_contact_business_days"] == 2
    assert p["readmission_window"] == "P30D"
    assert p["admission_review_business_days"] == 2  # 42 CFR 456.126
    clocks = {c.name: c for c in d.clocks}
    window = clocks["readmission_window"]
    assert window.anchor == "case.discharge_date"
    assert window.after is not None
    assert window.after.days == 30
    # every admission, readmissions included, starts the notice and the admission review
    assert clocks["admission_im_notice"].start.states == ("admitted",)
    assert clocks["admission_review"].start.states == ("admitted",)
    assert clocks["admission_review"].calendar == "ur_working_days"
    assert d.calendars["ur_working_days"].subdivision is None  # federal working days
    readmitted = [
        t for t in d.transitions_from("post_discharge_monitoring") if t.event == "readmitted"
    ]
    assert readmitted
    assert readmitted[0].target == "admitted"


def test_hospital_authorizations_are_items_with_their_own_cms_0057_f_deadlines() -> None:
    d = definition_of("hospital")
    auth = d.item_types["authorization"]
    assert {"service", "urgency", "payer_type"} <= set(auth.data_schema["required"])
    assert auth.max_items > 1  # several at once
    deadlines = {c.name: c for c in auth.clocks}
    urgent, standard = deadlines["urgent_decision"].after, deadlines["standard_decision"].after
    assert urgent is not None
    assert standard is not None
    assert urgent.hours == 72  # CMS-0057-F: 72 hours (expedited)
    assert standard.days == 7  # and 7 calendar days (standard)
    for clock in auth.clocks:
        assert set(clock.states) == {"requested", "pended"}  # a pended request keeps its clock
    events = set(auth.events)
    assert {
        "denied",
        "reconsideration_requested",
        "peer_to_peer_requested",
        "appeal_filed",
    } <= events
    denied = [t for t in auth.transitions if t.event == "denied"]
    assert all(t.payload_schema and "denial_reason" in t.payload_schema["required"] for t in denied)
    # the case no longer waits in an authorization state: utilization review goes on
    assert not [s for s in d.states if "authorization" in s]
    education = d.item_types["education"]
    assert "understood" in education.final_states
    assert {"teach_back_passed", "teach_back_failed"} <= set(education.events)


def test_brokerage_referrals_are_items_and_an_acceptance_links_the_case() -> None:
    d = definition_of("brokerage")
    referral = d.item_types["referral"]
    assert {"accepted", "declined", "withdrawn"} <= set(referral.final_states)
    assert "waitlisted" in referral.states
    accepted = [t for t in referral.transitions if t.event == "accepted"]
    assert {t.case_event for t in accepted} == {"referral_accepted"}
    (linked,) = [
        t for t in d.transitions_from("referrals_pending") if t.event == "referral_accepted"
    ]
    assert linked.target == "monitoring"
    assert "linked_providers" not in d.case_schema["properties"]
    (no_answer,) = referral.states["sent"].timers
    assert no_answer.after is not None


@pytest.mark.parametrize("name", ["intensive", "targeted"])
def test_contacts_record_mode_location_duration_and_units(name: str) -> None:
    d = definition_of(name)
    item = d.item_types["contact" if name == "intensive" else "service_entry"]
    required = set(item.data_schema["required"])
    assert {"date", "mode", "location", "duration_minutes", "units"} <= required
    assert item.create.case_event is not None


def test_targeted_service_entries_carry_the_441_18_case_record_elements() -> None:
    entry = definition_of("targeted").item_types["service_entry"].data_schema["properties"]
    # 42 CFR 441.18(a)(7): (ii) dates; (iii) provider; (iv) nature, content, units, goals;
    # (v) services declined; (vi) coordination with other case managers
    for field_name in (
        "date",
        "provider_agency",
        "provider_person",
        "nature",
        "content",
        "units",
        "goals_achieved",
        "services_declined",
        "coordinated_with_other_case_manager",
    ):
        assert field_name in entry, field_name


# -- scripted paths ------------------------------------------------------------


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_every_workflow_has_a_path_file_reaching_several_final_states(name: str) -> None:
    paths = load_paths(name)
    assert paths["workflow"] == name
    finals = {p["final"] for p in paths["paths"]}
    assert finals <= set(definition_of(name).final_states)
    assert "closed" in finals
    assert len(finals) >= 2


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_paths_exercise_outreach_hold_and_timers(name: str) -> None:
    steps = [s for p in load_paths(name)["paths"] for s in p["steps"]]
    events = {s.get("event") for s in steps}
    assert "contact_attempt_failed" in events
    assert "resume" in events
    assert any("advance" in s for s in steps)


@pytest.mark.parametrize(("name", "path_name", "start_name"), all_paths())
def test_scripted_path_reaches_its_final_state(name: str, path_name: str, start_name: str) -> None:
    definition = definition_of(name)
    path = next(p for p in load_paths(name)["paths"] if p["name"] == path_name)
    # on the real engine in virtual time: case clocks run across states
    with open_simulation(WORKFLOWS_DIR / f"{name}.yaml", start=START_INSTANTS[start_name]) as sim:
        sim.run(steps_from_path(path))  # raises ScriptError naming the step that fails
        state = sim.state
    assert state == path["final"]
    assert definition.states[state].final


def test_walker_rejects_an_event_the_state_does_not_handle() -> None:
    definition = definition_of("brokerage")
    path = {
        "name": "wrong_event",
        "record": {
            "patient_id": "P-0001",
            "program": "x",
            "priority": "routine",
            "risk_level": "low",
        },
        "steps": [{"event": "goals_met", "actor": "cm", "roles": ["case_manager"]}],
    }
    with pytest.raises(PathFailure, match="no transition"):
        walk(definition, path, START_INSTANTS["ordinary_week"])


def test_walker_rejects_a_role_that_may_not_send_the_event() -> None:
    definition = definition_of("brokerage")
    path = {
        "name": "wrong_role",
        "record": {
            "patient_id": "P-0001",
            "program": "x",
            "priority": "routine",
            "risk_level": "low",
        },
        "steps": [
            {
                "event": "first_contact_made",
                "roles": ["supervisor"],
                "payload": {"contact_date": "2026-01-05"},
            }
        ],
    }
    with pytest.raises(PathFailure, match="allowed for roles"):
        walk(definition, path, START_INSTANTS["ordinary_week"])


def test_hold_pauses_a_deadline_and_resume_keeps_the_time_left() -> None:
    definition = definition_of("brokerage")
    start = START_INSTANTS["ordinary_week"]
    walker = Walker(definition=definition, now=start)
    walker.open(
        {"patient_id": "P-0001", "program": "x", "priority": "routine", "risk_level": "low"}
    )
    walker.send("first_contact_made", {"contact_date": "2026-03-02"}, ["case_manager"])
    entered = walker.now
    (deadline,) = [a for a in walker.armed if a.timer.name == "assessment_deadline"]
    walker.advance(parse_duration("P20D"))
    time_left = deadline.due - walker.now
    walker.send("put_on_hold", {"hold_reason": "hospitalised"}, ["case_manager"])
    walker.advance(parse_duration("P40D"))
    walker.send("resume", None, ["case_manager"])

    assert walker.state == "assessing"
    (resumed,) = [a for a in walker.armed if a.timer.name == "assessment_deadline"]
    assert resumed.due == walker.now + time_left
    assert resumed.due > deadline.due  # the 40 days on hold did not count
    assert walker.now - entered > time_left


def _path_named(workflow: str, name: str) -> dict[str, Any]:
    (path,) = [p for p in load_paths(workflow)["paths"] if p["name"] == name]
    return path


def test_rivers_story_is_told_without_bending_the_workflow() -> None:
    steps = _path_named("clinical", "river_rehabilitation_to_closure")["steps"]
    added = [s for s in steps if "add_item" in s]
    services = {s["payload"]["service"] for s in added if s["add_item"] == "service"}
    assert {"physical_therapy", "neuropsychology", "occupational_therapy"} <= services
    assert all(s["payload"]["goals"] for s in added if s["add_item"] == "service")
    appointments = [s for s in added if s["add_item"] == "appointment"]
    assert appointments
    assert all({"date", "provider", "service"} <= set(s["payload"]) for s in appointments)
    contacts = [s["payload"] for s in added if s["add_item"] == "contact"]
    assert {c["mode"] for c in contacts} >= {"phone", "face_to_face"}
    assert {c["kind"] for c in contacts} >= {"check_in", "team_meeting", "financial_planning"}
    events = [s.get("event") for s in steps]
    # sessions are recorded on the plan's own service items, not as free-standing case events
    sessions = [s for s in steps if s.get("event") == "session_recorded"]
    assert sessions
    assert all("item" in s for s in sessions)
    assert {"put_on_hold", "resume", "plan_revised", "recovery_confirmed"} <= set(events)
    hold = next(s for s in steps if s.get("event") == "put_on_hold")
    assert hold["payload"]["hold_reason"] == "hospitalised"  # the rehospitalisation
    assert _path_named("clinical", "river_rehabilitation_to_closure")["final"] == "closed"


def test_hospital_path_with_two_authorizations_one_denied_and_appealed_during_review() -> None:
    path = _path_named("hospital", "two_authorizations_one_denied_and_appealed_during_review")
    steps = path["steps"]
    auths = [s["item_id"] for s in steps if s.get("add_item") == "authorization"]
    assert len(auths) == 2
    first_decision = next(i for i, s in enumerate(steps) if s.get("item") in auths)
    assert all(  # both requested before either is decided: concurrent
        i < first_decision for i, s in enumerate(steps) if s.get("add_item") == "authorization"
    )
    by_item: dict[str, list[str]] = {}
    for s in steps:
        if "item" in s:
            by_item.setdefault(s["item"], []).append(s["event"])
    denied = [a for a in auths if "denied" in by_item.get(a, [])]
    assert len(denied) == 1
    assert "appeal_filed" in by_item[denied[0]]
    appeal = next(i for i, s in enumerate(steps) if s.get("event") == "appeal_filed")
    assert any(  # utilization review continues while the appeal is pending
        s.get("event") == "continued_stay_approved" for s in steps[appeal:]
    )
    assert path["final"] == "closed"
