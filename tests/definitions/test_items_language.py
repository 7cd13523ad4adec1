"""Work items in the language: YAML -> frozen IR, $params, locations, JSON round trip, CEL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.definitions import check_paths, load_workflow
from engine.definitions.expressions import compile_expression
from engine.definitions.items import DEFAULT_MAX_ITEMS
from engine.definitions.model import TimerKind
from engine.errors import DefinitionError
from engine.store.codec import definition_from_json, definition_to_json

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
DEMO = FIXTURES / "valid" / "items_demo.yaml"
ITEMS_INVALID = FIXTURES / "invalid" / "items"
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo():
    return load_workflow(DEMO)


def test_demo_loads_without_findings():
    report = check_paths([DEMO])
    assert report.ok
    assert report.diagnostics == ()


def test_item_types_are_built_in_the_order_written(demo):
    assert list(demo.item_types) == ["referral", "appointment"]
    assert demo.item_type("referral") is demo.item_types["referral"]
    assert demo.item_type("goal") is None


def test_item_type_carries_schema_lifecycle_and_limits(demo):
    referral = demo.item_types["referral"]
    assert referral.title == "Referral to a community provider"
    assert referral.max_items == 20
    assert referral.data_schema["required"] == ["provider", "service"]
    assert referral.initial == "sent"
    assert list(referral.states) == ["sent", "waitlisted", "accepted", "declined", "expired"]
    assert referral.final_states == ("accepted", "declined", "expired")
    assert referral.events == ("accepted", "declined", "waitlisted", "no_answer", "answer_overdue")
    assert demo.item_types["appointment"].max_items == DEFAULT_MAX_ITEMS


def test_item_transitions_keep_case_event_internal_and_sets(demo):
    referral = demo.item_types["referral"]
    accepted = referral.transitions_from("sent")[0]
    assert (accepted.event, accepted.target, accepted.case_event) == (
        "accepted",
        "accepted",
        "referral_settled",
    )
    assert accepted.roles == ("provider", "case_manager")
    no_answer = next(t for t in referral.transitions_from("sent") if t.event == "no_answer")
    assert no_answer.internal
    assert no_answer.sets == (("follow_ups", "item.data.follow_ups + 1"),)
    # case transitions never carry a case_event
    assert all(t.case_event is None for t in demo.transitions)


def test_item_timers_resolve_params_and_signed_offsets(demo):
    (no_answer,) = demo.item_types["referral"].timers_of("sent")
    assert no_answer.kind is TimerKind.AFTER
    assert no_answer.after is not None
    assert no_answer.after.days == 14
    assert no_answer.state == "sent"
    (reminder,) = demo.item_types["appointment"].timers_of("scheduled")
    assert reminder.kind is TimerKind.AT
    assert reminder.at == "item.data.date"
    assert reminder.offset is not None
    assert (reminder.offset.text, reminder.offset.days) == ("-P1D", -1)


def test_item_clock_resolves_business_days_param(demo):
    (clock,) = demo.item_types["referral"].clocks
    assert clock.name == "answer_due"
    assert clock.states == ("sent", "waitlisted")
    assert clock.kind is TimerKind.BUSINESS_DAYS
    assert clock.business_days == 30  # $referral_answer_days
    assert demo.item_types["referral"].clocks_in("waitlisted") == (clock,)
    assert clock.as_timer("sent").business_days == 30


def test_create_rule(demo):
    create = demo.item_types["referral"].create
    assert create.roles == ("case_manager",)
    assert create.case_states == ("linking", "referrals_pending", "monitoring")
    assert create.payload_schema is None
    assert create.copy_payload
    assert create.writes == ()
    assert create.sets == (("follow_ups", "0"),)
    assert create.actions == ("send_referral",)
    assert create.case_event == "referral_added"
    assert demo.item_types["appointment"].create.case_states == ("monitoring",)
    assert "send_referral" in demo.action_names()


def test_item_elements_have_source_locations(demo):
    referral = demo.item_types["referral"]
    assert referral.location is not None
    assert (referral.location.line, referral.location.column) == (83, 3)
    assert referral.states["sent"].location is not None
    assert referral.states["sent"].location.line == 106
    assert referral.transitions[0].location is not None
    assert referral.transitions[0].location.line == 114
    assert referral.create.location is not None
    assert referral.create.location.line == 96
    assert referral.clocks[0].location is not None
    assert referral.clocks[0].location.line == 156
    assert referral.location.file == str(DEMO) or referral.location.file.endswith("items_demo.yaml")


def test_definitions_with_items_round_trip_through_json(demo):
    stored = json.loads(json.dumps(definition_to_json(demo)))
    back = definition_from_json(stored, demo.source_text)
    assert back == demo
    assert back.item_types == demo.item_types


def test_definitions_stored_before_items_read_back_without_them(demo):
    data = definition_to_json(demo)
    del data["items"]
    for t in data["transitions"]:
        del t["case_event"]
    back = definition_from_json(data, demo.source_text)
    assert back.item_types == {}
    assert back.transitions == demo.transitions


def test_write_list_and_map_and_payload_schema_in_create(tmp_path: Path):
    text = DEMO.read_text()
    old = '      set:\n        follow_ups: "0"\n'
    assert old in text
    new = (
        "      payload:\n        type: object\n        properties:\n"
        "          provider: {type: string}\n          service: {type: string}\n"
        "      writes: {provider: provider, service: service}\n" + old
    )
    path = tmp_path / "w.yaml"
    path.write_text(text.replace(old, new, 1))
    create = load_workflow(path).item_types["referral"].create
    assert create.payload_schema is not None
    assert create.writes == (("provider", "provider"), ("service", "service"))
    assert not create.copy_payload


def test_fragment_may_not_declare_items():
    with pytest.raises(DefinitionError) as info:
        load_workflow(ITEMS_INVALID / "in_fragment.yaml")
    (diag,) = [d for d in info.value.diagnostics if d.code == "items-in-fragment"]
    assert Path(diag.file).resolve() == (ITEMS_INVALID / "fragments" / "with_items.yaml").resolve()
    assert (diag.line, diag.column, diag.json_path) == (3, 1, "$.items")
    assert "workflow file" in diag.message


# -- CEL over items --------------------------------------------------------------------


def _item(item_id: str, state: str, closed: bool, **data: object) -> dict[str, object]:
    return {
        "id": item_id,
        "type": "referral",
        "state": state,
        "data": data,
        "opened_at": NOW,
        "closed_at": NOW if closed else None,
        "closed": closed,
    }


def test_case_guard_over_items_compiles_and_evaluates(demo):
    settle = demo.transitions_from("referrals_pending")[0]
    assert settle.guard is not None
    guard = compile_expression(settle.guard)
    items = {
        "referral": [_item("referral-1", "accepted", True), _item("referral-2", "sent", False)],
        "appointment": [],
    }
    assert guard.evaluate(case={}, event={}, params={}, now=NOW, items=items) is False
    items["referral"][1] = _item("referral-2", "declined", True)
    assert guard.evaluate(case={}, event={}, params={}, now=NOW, items=items) is True
    close = demo.transitions_from("monitoring")[0]
    assert close.guard is not None
    assert compile_expression(close.guard).evaluate(
        case={}, event={}, params={}, now=NOW, items=items
    )


def test_item_set_sees_item_data(demo):
    referral = demo.item_types["referral"]
    (_, source) = next(t for t in referral.transitions if t.event == "no_answer").sets[0]
    item = _item("referral-1", "sent", False, follow_ups=2)
    value = compile_expression(source).evaluate(
        case={}, event={}, params={}, now=NOW, items={"referral": [item]}, item=item
    )
    assert value == 3
