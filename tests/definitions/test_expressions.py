"""CEL expressions: compile once, evaluate over plain data, never leak values."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.definitions.expressions import (
    Expression,
    ExpressionError,
    compile_expression,
    field_references,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _eval(source: str, case=None, event=None, params=None):
    return compile_expression(source).evaluate(
        case=case or {}, event=event or {}, params=params or {}, now=NOW
    )


def test_guard_reads_case_event_and_params():
    assert _eval(
        "case.attempts < params.max && event.reached == false",
        case={"attempts": 2},
        event={"reached": False},
        params={"max": 3},
    )


def test_now_is_a_timestamp():
    assert _eval('now > timestamp("2026-01-01T00:00:00Z")') is True


def test_same_source_compiles_once():
    first = compile_expression("case.a == 1")
    assert compile_expression("case.a == 1") is first
    assert isinstance(first, Expression)
    assert first.source == "case.a == 1"


@pytest.mark.parametrize("source", ["case.a +", "case.a == ", "(", "case..a", "   ", ""])
def test_syntax_errors_raise_expression_error(source: str):
    with pytest.raises(ExpressionError):
        compile_expression(source)


def test_syntax_error_message_gives_position():
    with pytest.raises(ExpressionError, match=r"CEL syntax error at 1:9"):
        compile_expression("case.a +")


def test_missing_field_names_the_field_not_a_value():
    with pytest.raises(ExpressionError) as info:
        _eval("case.risk_level == 'high'", case={"patient_id": "P-SECRET-1"})
    assert "case.risk_level" in str(info.value)
    assert "P-SECRET" not in str(info.value)
    assert info.value.missing
    assert info.value.field == "case.risk_level"
    assert isinstance(info.value.__context__, KeyError)  # scheduling relies on either


def test_computed_key_is_not_echoed():
    with pytest.raises(ExpressionError) as info:
        _eval("params.table[case.name]", case={"name": "Jane Doe"}, params={"table": {}})
    assert "Jane" not in str(info.value)


def test_type_errors_do_not_echo_values():
    with pytest.raises(ExpressionError) as info:
        _eval("case.name + 1", case={"name": "Jane Doe"})
    assert "Jane" not in str(info.value)


def test_division_by_zero_is_an_expression_error():
    with pytest.raises(ExpressionError, match="division by zero") as info:
        _eval("case.a / 0", case={"a": 1})
    assert not info.value.missing


def test_has_guards_optional_fields():
    assert _eval("has(case.discharge_date)", case={}) is False


def test_field_references_finds_each_root():
    refs = field_references(
        "case.risk == 'high' && event.score > params.cutoff && has(case.discharge_date)"
    )
    assert [(r.root, r.name) for r in refs] == [
        ("case", "risk"),
        ("event", "score"),
        ("params", "cutoff"),
        ("case", "discharge_date"),
    ]


def test_field_references_skip_string_literals():
    refs = field_references("""case.note == "case.fake" && 'event.also_fake' != r'params.x'""")
    assert [(r.root, r.name) for r in refs] == [("case", "note")]


def test_field_references_skip_triple_quoted_strings():
    refs = field_references('case.a == """case.b\nevent.c"""')
    assert [(r.root, r.name) for r in refs] == [("case", "a")]


def test_field_references_read_index_with_string_key():
    refs = field_references('case["risk_level"] == "high"')
    assert [(r.root, r.name) for r in refs] == [("case", "risk_level")]


def test_member_named_case_is_not_a_root():
    refs = field_references("params.case.x == 1")
    assert [(r.root, r.name) for r in refs] == [("params", "case")]


def test_deeply_nested_expression_is_a_compile_error_not_a_crash():
    with pytest.raises(ExpressionError, match="nested too deeply"):
        compile_expression("(" * 200 + "1" + ")" * 200)
