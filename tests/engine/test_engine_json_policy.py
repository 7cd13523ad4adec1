"""One JSON policy at every entrance: values the databases or the audit chain cannot keep
are refused with a JSON path, identically on SQLite and PostgreSQL (hardening, finding 5)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from engine_support import CLERK, MANAGER, RECORD
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import CaseNotFound, PayloadInvalid
from engine.runtime.engine import Engine
from engine.runtime.json_policy import problem_of

BAD_VALUES: list[tuple[Any, str]] = [
    (math.nan, "NaN"),
    (math.inf, "NaN and Infinity"),
    (-math.inf, "NaN and Infinity"),
    ("ok\ud800", "surrogate"),
    ("nul\x00byte", "NUL"),
    (2**63, "64-bit"),
    (-(2**63) - 1, "64-bit"),
]


@pytest.mark.parametrize(("value", "problem"), BAD_VALUES)
def test_open_case_refuses_values_the_database_cannot_keep(
    engine: Engine, value: Any, problem: str
) -> None:
    with pytest.raises(PayloadInvalid) as info:
        engine.open_case("enginetest", {**RECORD, "note": value}, **CLERK)
    assert info.value.json_path == "$.note"
    assert problem in info.value.problem
    assert engine.find().items == ()


@pytest.mark.parametrize(("value", "problem"), BAD_VALUES)
def test_send_refuses_payload_values_the_database_cannot_keep(
    engine: Engine, value: Any, problem: str
) -> None:
    case = engine.open_case("enginetest", RECORD, **CLERK)
    engine.send(case.id, "contacted", **CLERK)
    with pytest.raises(PayloadInvalid) as info:
        engine.send(case.id, "annotate", {"note": {"deep": [value]}}, **MANAGER)
    assert info.value.json_path == "$.note.deep[0]"
    assert problem in info.value.problem
    assert engine.get(case.id).version == 2  # nothing changed
    assert len(engine.history(case.id)) == 2


def test_property_names_are_checked_too(engine: Engine) -> None:
    case = engine.open_case("enginetest", RECORD, **CLERK)
    engine.send(case.id, "contacted", **CLERK)
    with pytest.raises(PayloadInvalid) as info:
        engine.send(case.id, "annotate", {"x\x00": 1}, **MANAGER)
    assert "property name" in info.value.problem
    assert "\x00" not in str(info.value)


@pytest.mark.parametrize("case_id", ["abc\x00def", "abc\ud800", "\n"])
def test_unusable_case_ids_are_not_found_on_every_read_and_write(
    engine: Engine, case_id: str
) -> None:
    for call in (
        lambda: engine.get(case_id),
        lambda: engine.history(case_id),
        lambda: engine.allowed_events(case_id, ["clerk"]),
        lambda: engine.send(case_id, "contacted", **CLERK),
    ):
        with pytest.raises(CaseNotFound) as info:
            call()
        str(info.value).encode("utf-8")  # the message itself is valid text


def test_filters_no_case_can_match_return_an_empty_page(engine: Engine) -> None:
    engine.open_case("enginetest", RECORD, **CLERK)
    assert engine.find(state="intake\x00").items == ()
    assert engine.find(workflow="enginetest\ud800").items == ()
    assert len(engine.find(state="intake").items) == 1


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_a_value_the_policy_accepts_survives_utf8_and_strict_json(value: Any) -> None:
    import json

    if problem_of(value) is None:
        text = json.dumps(value, allow_nan=False)  # raises on NaN/Infinity
        text.encode("utf-8")  # raises on lone surrogates
        assert "\\u0000" not in text


def _variant(tmp_path: Any, set_expr: str) -> Any:
    from engine_support import V1

    text = (V1 / "enginetest.yaml").read_text()
    text = text.replace(
        "    note: {type: string, maxLength: 20}",
        "    note: {type: string, maxLength: 20}\n    ratio: {type: number}",
        1,
    )
    marker = "      - event: annotate\n        internal: true\n"
    assert marker in text
    text = text.replace(marker, marker + f"        set:\n          ratio: '{set_expr}'\n", 1)
    folder = tmp_path / "wf"
    folder.mkdir()
    (folder / "enginetest.yaml").write_text(text)
    return folder


@pytest.mark.parametrize("expr", ["0.0/0.0", "1.0/0.0", "-1.0/0.0"])
def test_a_set_that_computes_nan_or_infinity_is_rejected_not_stored(
    database_url: str, tmp_path: Any, expr: str
) -> None:
    from engine.errors import EventRejected

    with Engine.open(database_url, workflows=_variant(tmp_path, expr)) as eng:
        case = eng.open_case("enginetest", RECORD, **CLERK)
        eng.send(case.id, "contacted", **CLERK)
        with pytest.raises(EventRejected) as info:
            eng.send(case.id, "annotate", {"note": "x"}, **MANAGER)
        assert info.value.reason == "guard_error"
        assert "ratio" in str(info.value)
        assert "ratio" not in eng.get(case.id).record


def test_an_oversized_payload_is_refused_before_any_expression_sees_it(engine: Engine) -> None:
    case = engine.open_case("enginetest", RECORD, **CLERK)
    engine.send(case.id, "contacted", **CLERK)
    with pytest.raises(PayloadInvalid) as info:
        engine.send(case.id, "annotate", {"note": "x", "blob": ["y" * 1000] * 70}, **MANAGER)
    assert "larger than" in info.value.problem
    assert engine.get(case.id).version == 2
