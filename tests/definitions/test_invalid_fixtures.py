"""Every error class has a fixture in tests/fixtures/invalid/ with its exact location."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.definitions import check_paths, load_workflow
from engine.errors import DefinitionError

INVALID = Path(__file__).resolve().parent.parent / "fixtures" / "invalid"
FRAGMENTS = INVALID / "fragments"

# fixture -> (code, line, column, JSON path, file (None: the fixture itself))
EXPECTED: dict[str, tuple[str, int, int, str, Path | None]] = {
    "bad_phase": ("invalid-value", 48, 12, "$.states.deliver.phase", None),
    "pattern_not_linear": (
        "pattern-not-linear",
        49,
        43,
        "$.states.plan.transitions[0].payload.properties.code.pattern",
        None,
    ),
    "cannot_close": ("cannot-close", 54, 3, "$.states.monitor", None),
    "cel_syntax": ("cel-syntax", 46, 16, "$.states.plan.transitions[0].guard", None),
    "duplicate_key": ("duplicate-key", 61, 3, "$.states.plan", None),
    "empty_phase": ("empty-phase", 19, 1, "$.states", None),
    "final_has_transitions": (
        "final-has-transitions",
        66,
        9,
        "$.states.closed.transitions[0]",
        None,
    ),
    "final_not_closure": ("final-not-closure", 69, 12, "$.states.archived.phase", None),
    "include_duplicate_state": (
        "duplicate-state",
        4,
        3,
        "$.states.closed",
        FRAGMENTS / "closure_again.yaml",
    ),
    "include_fragment_error": (
        "unknown-property",
        6,
        5,
        "$.states.archived.descripton",
        FRAGMENTS / "broken.yaml",
    ),
    "include_missing": ("include-missing", 8, 5, "$.include[0]", None),
    "initial_missing": ("initial-missing", 6, 10, "$.initial", None),
    "initial_not_intake": ("initial-not-intake", 6, 10, "$.initial", None),
    "invalid_case_schema": (
        "invalid-case-schema",
        15,
        40,
        "$.case_schema.properties.attempts.minimum",
        None,
    ),
    "invalid_duration": ("invalid-duration", 33, 16, "$.states.assess.timers[0].after", None),
    "invalid_payload_schema": (
        "invalid-payload-schema",
        49,
        27,
        "$.states.plan.transitions[0].payload.properties.score.type",
        None,
    ),
    "invalid_state_name": ("invalid-name", 40, 3, "$.states.Plan", None),
    "missing_description": ("missing-property", 40, 3, "$.states.plan", None),
    "offset_without_at": ("offset-without-at", 34, 17, "$.states.assess.timers[0].offset", None),
    "param_type": ("param-type", 33, 24, "$.states.assess.timers[0].business_days", None),
    "previous_not_hold": ("previous-not-hold", 45, 17, "$.states.plan.transitions[0].target", None),
    "shared_from_unknown_state": ("unknown-state", 67, 20, "$.shared_transitions[0].from[1]", None),
    "timer_event_unhandled": (
        "timer-event-unhandled",
        32,
        16,
        "$.states.assess.timers[0].event",
        None,
    ),
    "timer_two_kinds": ("timer-kind", 31, 9, "$.states.assess.timers[0]", None),
    "transition_without_target": (
        "transition-target",
        44,
        9,
        "$.states.plan.transitions[0]",
        None,
    ),
    "unknown_case_field": (
        "unknown-case-field",
        46,
        16,
        "$.states.plan.transitions[0].guard",
        None,
    ),
    "unknown_event_field": (
        "unknown-event-field",
        50,
        16,
        "$.states.plan.transitions[0].guard",
        None,
    ),
    "unknown_param": ("unknown-param", 33, 16, "$.states.assess.timers[0].after", None),
    "unknown_property": (
        "unknown-property",
        36,
        9,
        "$.states.assess.transitions[0].tragets",
        None,
    ),
    "unknown_role": ("unknown-role", 46, 17, "$.states.plan.transitions[0].roles[0]", None),
    "unknown_set_field": (
        "unknown-set-field",
        47,
        11,
        "$.states.plan.transitions[0].set.atempts",
        None,
    ),
    "unknown_target": ("unknown-target", 36, 17, "$.states.assess.transitions[0].target", None),
    "unknown_timezone": ("invalid-timezone", 6, 11, "$.timezone", None),
    "unknown_write_field": (
        "unknown-write-field",
        51,
        11,
        "$.states.plan.transitions[0].writes.risk_score",
        None,
    ),
    "unreachable_state": ("unreachable-state", 47, 3, "$.states.deliver", None),
    "writes_shape": ("invalid-value", 46, 17, "$.states.plan.transitions[0].writes", None),
    "wrong_type": ("wrong-type", 2, 10, "$.version", None),
    "unknown_variable": ("unknown-variable", 46, 16, "$.states.plan.transitions[0].guard", None),
    "final_has_timers": ("final-has-timers", 65, 5, "$.states.closed.timers", None),
    "include_absolute": ("include-absolute", 8, 5, "$.include[0]", None),
    "include_outside": ("include-outside", 8, 5, "$.include[0]", None),
    "write_type_mismatch": (
        "write-type-mismatch",
        50,
        18,
        "$.states.plan.transitions[0].writes[0]",
        None,
    ),
    # case clocks and named calendars
    "clock_anchor_type": ("clock-anchor-type", 24, 13, "$.clocks[0].anchor", None),
    "clock_duration": ("clock-duration", 21, 5, "$.clocks[0]", None),
    "clock_event_unhandled": ("clock-event-unhandled", 26, 12, "$.clocks[0].event", None),
    "clock_never_starts": ("clock-never-starts", 23, 12, "$.clocks[0].start", None),
    "clock_reset_on": ("clock-reset-on", 21, 5, "$.clocks[0]", None),
    "clock_unknown_event": ("unknown-event", 23, 32, "$.clocks[0].start.events[1]", None),
    "clock_unknown_property": ("unknown-property", 26, 5, "$.clocks[0].stat", None),
    "clock_unknown_state": ("unknown-state", 23, 42, "$.clocks[0].start.states[0]", None),
    "named_calendar_invalid": ("invalid-calendar", 11, 17, "$.calendars.federal.categories", None),
    "unknown_calendar": ("unknown-calendar", 26, 15, "$.clocks[0].calendar", None),
}

# fixtures whose only finding is a warning: they still load
WARNINGS: dict[str, tuple[str, int, int, str]] = {
    "no_way_out": ("no-way-out", 47, 3, "$.states.deliver"),
    "payload_field_unused": (
        "payload-field-unused",
        47,
        13,
        "$.states.assess.transitions[0].payload.properties.notes",
    ),
    "payload_missing": ("payload-missing", 43, 17, "$.states.assess.transitions[0].writes"),
    "shadowed_transition": ("shadowed-transition", 47, 9, "$.states.plan.transitions[1]"),
}


def test_every_invalid_fixture_has_an_expectation():
    on_disk = {p.stem for p in INVALID.glob("*.yaml")}
    assert on_disk == set(EXPECTED) | set(WARNINGS)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_fixture_reports_located_error(name: str):
    code, line, column, json_path, file = EXPECTED[name]
    path = INVALID / f"{name}.yaml"
    with pytest.raises(DefinitionError) as info:
        load_workflow(path)
    errors = [d for d in info.value.diagnostics if d.severity == "error"]
    wanted = [d for d in errors if d.code == code]
    assert wanted, [str(d) for d in errors]
    expected_file = (file or path).resolve()
    located = [d for d in wanted if (d.line, d.column, d.json_path) == (line, column, json_path)]
    assert located, [str(d) for d in wanted]
    found = located[0]
    assert Path(found.file).resolve() == expected_file
    assert str(found).startswith(f"{found.file}:{line}:{column}: {json_path}: ")


def test_typo_in_target_gives_one_error_with_did_you_mean():
    report = check_paths([INVALID / "unknown_target.yaml"])
    assert [d.code for d in report.diagnostics] == ["unknown-target"]
    assert report.diagnostics[0].hint == "did you mean 'plan'?"


def test_misspelt_property_is_not_also_reported_as_missing_target():
    report = check_paths([INVALID / "unknown_property.yaml"])
    assert [d.code for d in report.diagnostics] == ["unknown-property"]
    assert report.diagnostics[0].message == "unknown property 'tragets'"
    assert report.diagnostics[0].hint == "did you mean 'target'?"


@pytest.mark.parametrize("name", sorted(WARNINGS))
def test_warning_fixture_still_loads(name: str):
    path = INVALID / f"{name}.yaml"
    report = check_paths([path])
    assert report.ok
    code, line, column, json_path = WARNINGS[name]
    assert [(d.code, d.severity, d.line, d.column, d.json_path) for d in report.diagnostics] == [
        (code, "warning", line, column, json_path)
    ]
    assert "warning: " in str(report.diagnostics[0])
    assert load_workflow(path).name == "tiny"


def test_macro_bound_names_are_not_unknown_variables():
    report = check_paths([INVALID / "unknown_variable.yaml"])
    assert [d.message for d in report.diagnostics] == [
        "unknown variable 'evnt': expressions see case, event, params, now and items"
    ]


def test_cannot_close_reports_every_stuck_state():
    report = check_paths([INVALID / "cannot_close.yaml"])
    stuck = [d.json_path for d in report.diagnostics if d.code == "cannot-close"]
    assert stuck == [f"$.states.{s}" for s in ("intake", "assess", "plan", "deliver", "monitor")]


def test_all_errors_of_a_file_come_at_once(tmp_path: Path):
    text = (INVALID / "unknown_target.yaml").read_text()
    text = text.replace("roles: [case_manager]", "roles: [case_manger]", 1)
    text = text.replace("version: 1", "version: 0")
    path = tmp_path / "many.yaml"
    path.write_text(text)
    report = check_paths([path])
    assert [d.code for d in report.diagnostics] == [
        "invalid-value",
        "unknown-role",
        "unknown-target",
    ]
    assert [d.line for d in report.diagnostics] == sorted(d.line for d in report.diagnostics)


def test_every_fixture_code_is_catalogued():
    from engine.definitions.codes import DIAGNOSTIC_CODES, WARNING_CODES

    fixtures = INVALID.parent
    paths = [*INVALID.glob("*.yaml"), *(fixtures / "hostile").glob("*.yaml")]
    for path in paths:
        for d in check_paths([path]).diagnostics:
            assert d.code in DIAGNOSTIC_CODES, (path.name, d.code)
            assert (d.severity == "warning") == (d.code in WARNING_CODES), d.code
