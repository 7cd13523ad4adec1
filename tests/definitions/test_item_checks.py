"""Checks of work item types: every fixture in tests/fixtures/invalid/items/ with its exact
location (file:line:col and JSON path), code and, where one helps, its did-you-mean."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.definitions import check_paths, load_workflow
from engine.errors import DefinitionError

ITEMS = Path(__file__).resolve().parent.parent / "fixtures" / "invalid" / "items"
FRAGMENTS = ITEMS / "fragments"
G = "$.items.goal"

# fixture -> (code, line, column, JSON path, hint or None, file (None: the fixture itself))
EXPECTED: dict[str, tuple[str, int, int, str, str | None, Path | None]] = {
    "clock_event_unhandled": (
        "clock-event-unhandled",
        94,
        16,
        f"{G}.clocks[0].event",
        None,
        None,
    ),
    "clock_two_kinds": ("timer-kind", 91, 9, f"{G}.clocks[0]", None, None),
    "clock_unknown_state": ("unknown-item-state", 92, 24, f"{G}.clocks[0].states[1]", None, None),
    "create_unknown_state": (
        "unknown-state",
        60,
        18,
        f"{G}.create.in[1]",
        "did you mean 'deliver'?",
        None,
    ),
    "duplicate_clock": ("duplicate-clock", 95, 15, f"{G}.clocks[1].name", None, None),
    "final_has_transitions": (
        "final-has-transitions",
        88,
        13,
        f"{G}.states.achieved.transitions[0]",
        None,
        None,
    ),
    "in_fragment": ("items-in-fragment", 3, 1, "$.items", None, FRAGMENTS / "with_items.yaml"),
    "initial_missing": (
        "item-initial-missing",
        61,
        14,
        f"{G}.initial",
        "did you mean 'open'?",
        None,
    ),
    "item_in_case_guard": (
        "unknown-variable",
        43,
        16,
        "$.states.monitor.transitions[0].guard",
        "only an item's own expressions see item; case expressions see items",
        None,
    ),
    "max_out_of_range": ("invalid-value", 51, 10, f"{G}.max", None, None),
    "offset_without_at": ("offset-without-at", 94, 17, f"{G}.clocks[0].offset", None, None),
    "schema_not_object": ("invalid-item-schema", 52, 13, f"{G}.schema.type", None, None),
    "set_unknown_field": (
        "unknown-set-field",
        74,
        15,
        f"{G}.states.open.transitions[0].set.step_count",
        "did you mean 'steps_done'?",
        None,
    ),
    "timer_event_unhandled": (
        "timer-event-unhandled",
        68,
        20,
        f"{G}.states.open.timers[0].event",
        "did you mean 'review_due'?",
        None,
    ),
    "unknown_bound_field": (
        "unknown-item-field",
        43,
        16,
        "$.states.monitor.transitions[0].guard",
        "did you mean 'text'?",
        None,
    ),
    "unknown_data_field": (
        "unknown-item-field",
        74,
        27,
        f"{G}.states.open.transitions[0].set.steps_done",
        "did you mean 'steps_done'?",
        None,
    ),
    "unknown_item_key": (
        "unknown-item-field",
        83,
        20,
        f"{G}.states.open.transitions[3].guard",
        "did you mean 'state'?",
        None,
    ),
    "unknown_item_type": (
        "unknown-item-type",
        43,
        16,
        "$.states.monitor.transitions[0].guard",
        "did you mean 'goal'?",
        None,
    ),
    "unknown_property": (
        "unknown-property",
        61,
        5,
        f"{G}.initail",
        "did you mean 'initial'?",
        None,
    ),
    "unknown_role": (
        "unknown-role",
        59,
        15,
        f"{G}.create.roles[0]",
        "did you mean 'case_manager'?",
        None,
    ),
    "unknown_target": (
        "unknown-item-state",
        78,
        21,
        f"{G}.states.open.transitions[2].target",
        "did you mean 'achieved'?",
        None,
    ),
    "unreachable_state": (
        "unreachable-item-state",
        90,
        7,
        f"{G}.states.archived",
        None,
        None,
    ),
    "write_unknown_field": (
        "unknown-write-field",
        61,
        22,
        f"{G}.create.writes[1]",
        "did you mean 'target_date'?",
        None,
    ),
}

# fixtures whose only finding is a warning: they still load
WARNINGS: dict[str, tuple[str, int, int, str]] = {
    "case_event_unhandled": (
        "case-event-unhandled",
        80,
        25,
        f"{G}.states.open.transitions[2].case_event",
    ),
    "event_never_sent": (
        "item-event-never-sent",
        81,
        20,
        f"{G}.states.open.transitions[3].event",
    ),
}


def test_every_item_fixture_has_an_expectation():
    on_disk = {p.stem for p in ITEMS.glob("*.yaml")}
    assert on_disk == set(EXPECTED) | set(WARNINGS)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_item_fixture_reports_located_error(name: str):
    code, line, column, json_path, hint, file = EXPECTED[name]
    path = ITEMS / f"{name}.yaml"
    with pytest.raises(DefinitionError) as info:
        load_workflow(path)
    errors = [d for d in info.value.diagnostics if d.severity == "error"]
    located = [
        d
        for d in errors
        if (d.code, d.line, d.column, d.json_path) == (code, line, column, json_path)
    ]
    assert located, [str(d) for d in errors]
    found = located[0]
    assert Path(found.file).resolve() == (file or path).resolve()
    assert str(found).startswith(f"{found.file}:{line}:{column}: {json_path}: ")
    if hint is not None:
        assert found.hint == hint


@pytest.mark.parametrize("name", sorted(WARNINGS))
def test_item_fixture_warns_and_still_loads(name: str):
    code, line, column, json_path = WARNINGS[name]
    path = ITEMS / f"{name}.yaml"
    report = check_paths([path])
    assert report.ok
    assert [(d.code, d.line, d.column, d.json_path) for d in report.diagnostics] == [
        (code, line, column, json_path)
    ]
    assert report.diagnostics[0].severity == "warning"
    assert load_workflow(path).item_types


@pytest.mark.parametrize(
    "name",
    [
        "unknown_target",
        "initial_missing",
        "create_unknown_state",
        "timer_event_unhandled",
        "unknown_item_type",
        "unknown_data_field",
    ],
)
def test_one_mistake_gives_one_finding(name: str):
    report = check_paths([ITEMS / f"{name}.yaml"])
    assert [d.code for d in report.diagnostics] == [EXPECTED[name][0]]


def test_unknown_item_type_lists_the_declared_ones():
    (diag,) = check_paths([ITEMS / "unknown_item_type.yaml"]).diagnostics
    assert diag.message == (
        "'items.goals': no item type 'goals' is declared under items (declared: goal)"
    )


def test_item_event_never_sent_names_the_event():
    (diag,) = check_paths([ITEMS / "event_never_sent.yaml"]).diagnostics
    assert "'expire'" in diag.message


def test_item_expressions_see_item_and_case_expressions_do_not(tmp_path: Path):
    text = (ITEMS / "unknown_item_type.yaml").read_text()
    text = text.replace("items.goals.all(g, g.closed)", "items.goal.all(g, g.closed)")
    ok = tmp_path / "ok.yaml"
    ok.write_text(text.replace("      in: [plan, deliver]\n", "      in: [plan, deliver]\n", 1))
    assert check_paths([ok]).diagnostics == ()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("item.data.steps_done + 1", "itme.data.steps_done + 1"))
    (diag,) = check_paths([bad]).diagnostics
    assert diag.code == "unknown-variable"
    assert diag.hint == "did you mean 'item'?"


def test_every_item_fixture_code_is_catalogued():
    from engine.definitions.codes import DIAGNOSTIC_CODES, WARNING_CODES

    for path in ITEMS.glob("*.yaml"):
        for d in check_paths([path]).diagnostics:
            assert d.code in DIAGNOSTIC_CODES, (path.name, d.code)
            assert (d.severity == "warning") == (d.code in WARNING_CODES), d.code
