"""Migration plans are checked against both versions; every mistake is located."""

from __future__ import annotations

from pathlib import Path

import pytest
from continuity_support import PLANS, V1, V2

from engine.definitions import load_workflows
from engine.definitions.migration_plan import TimerPolicy, check_plan
from engine.errors import DefinitionError

(OUTREACH_V1,) = load_workflows([V1])
(OUTREACH_V2,) = load_workflows([V2])


def test_a_plan_maps_every_running_state_and_defaults_the_rest() -> None:
    plan = check_plan(PLANS / "rename.yaml", OUTREACH_V1, OUTREACH_V2)
    assert plan.states["assessing"].target == "evaluating"
    assert {s: m.target for s, m in plan.states.items() if s != "assessing"} == {
        "referral": "referral",
        "planning": "planning",
        "delivering": "delivering",
        "monitoring": "monitoring",
        "hospital": "hospital",
    }
    assert "closed" not in plan.states  # closed cases are not migrated
    assert plan.sets == (("consent_on_file", "false"),)
    assert plan.removes == ("legacy_code",)
    assert plan.timer_policy("assessment_due", True) is TimerPolicy.RECOMPUTE
    assert plan.timer_policy("unlisted", True) is TimerPolicy.RECOMPUTE
    assert plan.timer_policy("unlisted", False) is TimerPolicy.CANCEL
    assert plan.clock_policy("annual_reassessment", True) is TimerPolicy.KEEP
    assert len(plan.content_hash) == 64


def test_every_mistake_of_a_plan_is_reported_at_its_line_and_column() -> None:
    with pytest.raises(DefinitionError) as err:
        check_plan(PLANS / "bad.yaml", OUTREACH_V1, OUTREACH_V2)
    found = [(d.line, d.column, d.json_path, d.code) for d in err.value.diagnostics]
    assert found == [
        (5, 1, "$.states", "plan-unmapped-state"),  # assessing has no v2 namesake
        (6, 3, "$.states.asessing", "plan-unknown-state"),
        (7, 13, "$.states.referral", "plan-unknown-state"),  # screening is not in v2
        (8, 15, "$.states.monitoring", "plan-cannot-close"),  # suspended only returns
        (10, 12, "$.record.remove[0]", "plan-drops-required"),
        (12, 20, "$.timers.contact_cadence", "plan-unknown-timer"),
        (13, 3, "$.timers.assessment_timer", "plan-unknown-timer"),
        (15, 24, "$.clocks.annual_reassessment", "plan-invalid"),
    ]
    text = str(err.value)
    assert "bad.yaml:6:3: $.states.asessing: unknown state 'asessing' of outreach v1" in text
    assert "(did you mean 'assessing'?)" in text
    assert "no way to closure in v2" in text


def _plan(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "plan.yaml"
    p.write_text("workflow: outreach\nfrom_version: 1\nto_version: 2\n" + body)
    return p


def test_a_required_v2_field_the_plan_does_not_set_is_refused(tmp_path: Path) -> None:
    p = _plan(tmp_path, "states:\n  assessing: evaluating\n")
    with pytest.raises(DefinitionError) as err:
        check_plan(p, OUTREACH_V1, OUTREACH_V2)
    (d,) = err.value.diagnostics
    assert (d.line, d.code) == (1, "plan-drops-required")
    assert "field 'consent_on_file' is required in v2 but not in v1" in d.message


def test_a_cel_expression_that_does_not_compile_is_located(tmp_path: Path) -> None:
    p = _plan(
        tmp_path,
        "states:\n  assessing: {to: evaluating, when: 'case.risk_level =='}\n"
        "record:\n  set:\n    consent_on_file: 'true &&'\n",
    )
    with pytest.raises(DefinitionError) as err:
        check_plan(p, OUTREACH_V1, OUTREACH_V2)
    assert [(d.line, d.json_path, d.code) for d in err.value.diagnostics] == [
        (5, "$.states.assessing.when", "plan-invalid-expression"),
        (8, "$.record.set.consent_on_file", "plan-invalid-expression"),
    ]


def test_mapping_into_a_final_state_or_from_one_is_refused(tmp_path: Path) -> None:
    p = _plan(
        tmp_path,
        "states:\n  assessing: closed\n  closed: closed\nrecord:\n  set:\n"
        "    consent_on_file: 'true'\n",
    )
    with pytest.raises(DefinitionError) as err:
        check_plan(p, OUTREACH_V1, OUTREACH_V2)
    assert [(d.line, d.code) for d in err.value.diagnostics] == [
        (5, "plan-final-state"),
        (6, "plan-final-state"),
    ]


def test_the_versions_must_be_the_ones_checked_against(tmp_path: Path) -> None:
    p = tmp_path / "plan.yaml"
    p.write_text("workflow: outreach\nfrom_version: 2\nto_version: 2\nfoo: 1\n")
    with pytest.raises(DefinitionError) as err:
        check_plan(p, OUTREACH_V1, OUTREACH_V2)
    codes = [(d.line, d.json_path) for d in err.value.diagnostics]
    assert (2, "$.from_version") in codes
    assert (4, "$.foo") in codes
