"""Schema patterns run on a linear-time engine: no ReDoS through a workflow's `pattern`."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.definitions import load_workflow
from engine.definitions.schema_patterns import pattern_problems, search
from engine.errors import DefinitionError, PayloadInvalid
from engine.runtime.validation import CaseRecordCheck, SchemaCheck

INVALID = Path(__file__).resolve().parent.parent / "fixtures" / "invalid"

EVIL = "^(a+)+$"
# 2**40 backtracking steps for Python's re: hours; microseconds for a linear engine
EVIL_VALUE = "a" * 40 + "!"


@pytest.mark.timeout(5)
def test_backtracking_pattern_rejects_payload_in_bounded_time():
    check = SchemaCheck(
        {"type": "object", "properties": {"code": {"type": "string", "pattern": EVIL}}},
        what="payload of event planned",
    )
    with pytest.raises(PayloadInvalid) as info:
        check.validate({"code": EVIL_VALUE})
    assert info.value.json_path == "$.code"
    assert "pattern" in info.value.problem
    assert EVIL_VALUE not in str(info.value)
    check.validate({"code": "aaaa"})


@pytest.mark.timeout(5)
def test_backtracking_pattern_properties_key_in_bounded_time():
    check = CaseRecordCheck(
        {
            "type": "object",
            "patternProperties": {EVIL: {"type": "integer"}},
            "additionalProperties": False,
        }
    )
    with pytest.raises(PayloadInvalid) as info:
        check.validate({EVIL_VALUE: 1})
    assert "additionalProperties" in info.value.problem
    with pytest.raises(PayloadInvalid):
        check.validate({"aaa": "not an integer"})
    check.validate({"aaa": 1})


@pytest.mark.timeout(5)
def test_backtracking_pattern_nested_in_array_items():
    check = SchemaCheck(
        {
            "type": "object",
            "properties": {"tags": {"type": "array", "items": {"pattern": EVIL}}},
        },
        what="payload",
    )
    with pytest.raises(PayloadInvalid) as info:
        check.validate({"tags": ["aa", EVIL_VALUE]})
    assert info.value.json_path == "$.tags[1]"


def test_search_is_unanchored_like_json_schema():
    assert search("b+", "abbbc") is True
    assert search("^b", "abc") is False
    assert search("(?=a)a", "a") is None  # lookaround: not supported


def test_lookaround_pattern_is_refused_at_load():
    with pytest.raises(DefinitionError) as info:
        load_workflow(INVALID / "pattern_not_linear.yaml")
    (diag,) = [d for d in info.value.diagnostics if d.code == "pattern-not-linear"]
    assert diag.json_path == "$.states.plan.transitions[0].payload.properties.code.pattern"
    assert (diag.line, diag.column) == (49, 43)
    assert "linear-time" in diag.message


def test_pattern_problems_skip_data_keywords_and_find_pattern_properties():
    schema = {
        "properties": {"a": {"pattern": "(a)\\1", "default": {"pattern": "(?=x)"}}},
        "patternProperties": {"(?!x)": {"type": "string"}},
        "enum": [{"pattern": "(?=y)"}],
    }
    paths = [p for p, _ in pattern_problems(schema)]
    assert paths == [("properties", "a", "pattern"), ("patternProperties", "(?!x)")]
