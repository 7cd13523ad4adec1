"""Business keys: declared in the workflow, indexed, searchable, unique among open cases,
and the target of events sent by key; on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_support import CLERK, FIXTURES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.clock import ManualClock
from engine.definitions import check_paths, load_workflow
from engine.errors import CaseNotFound, DefinitionError, PayloadInvalid
from engine.runtime.business_keys import (
    BusinessKeyAmbiguous,
    BusinessKeyConflict,
    BusinessKeyNotFound,
)
from engine.runtime.engine import Engine

KEYED = FIXTURES / "keyed"


@pytest.fixture
def keyed(database_url: str) -> Iterator[Engine]:
    eng = Engine.open(database_url, workflows=KEYED, clock=ManualClock())
    try:
        yield eng
    finally:
        eng.close()


def _open(eng: Engine, patient: str, encounter: str | None = None, **more: object):
    record: dict[str, object] = {"patient_id": patient, **more}
    if encounter is not None:
        record["encounter_id"] = encounter
    return eng.open_case("keyedtest", record, **CLERK)


def _close(eng: Engine, case_id: str) -> None:
    for _ in range(3):
        eng.send(case_id, "attempt_failed", **CLERK)
    assert eng.get(case_id).phase == "closure"


def test_the_definition_carries_its_business_keys_through_the_store(keyed: Engine) -> None:
    defn = keyed.definition("keyedtest")
    assert [(k.name, k.unique) for k in defn.business_keys] == [
        ("patient_id", False),
        ("encounter_id", True),
        ("mrn", False),
    ]


def test_cases_are_found_by_one_or_several_keys(keyed: Engine) -> None:
    a = _open(keyed, "P-0001", "E-1", mrn=77)
    b = _open(keyed, "P-0001", "E-2")
    _open(keyed, "P-0002", "E-3")
    found = keyed.find(keys={"patient_id": "P-0001"})
    assert {c.id for c in found.items} == {a.id, b.id}
    assert [
        c.id for c in keyed.find(keys={"patient_id": "P-0001", "encounter_id": "E-2"}).items
    ] == [b.id]
    assert [c.id for c in keyed.find(keys={"mrn": 77}).items] == [a.id]
    assert [c.id for c in keyed.find(keys={"mrn": "77"}).items] == [a.id]  # text form
    assert keyed.find(keys={"patient_id": "P-9999"}).items == ()
    assert keyed.find(keys={"patient_id": "P-0001"}, workflow="other").items == ()
    assert keyed.find(keys={"mrn": 1.5}).items == ()  # no key value is a float


def test_search_by_key_pages_like_any_search(keyed: Engine) -> None:
    ids = {_open(keyed, "P-0001", f"E-{i}").id for i in range(5)}
    seen: list[str] = []
    cursor = None
    while True:
        page = keyed.find(keys={"patient_id": "P-0001"}, limit=2, cursor=cursor)
        seen.extend(c.id for c in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(seen) == sorted(ids)
    assert len(seen) == 5


def test_a_unique_key_is_refused_for_a_second_open_case_without_echoing_the_value(
    keyed: Engine,
) -> None:
    first = _open(keyed, "P-0001", "E-100")
    with pytest.raises(BusinessKeyConflict) as err:
        _open(keyed, "P-0002", "E-100")
    assert err.value.code == "business-key-conflict"
    assert err.value.holder == first.id
    assert err.value.key == "encounter_id"
    assert "E-100" not in str(err.value)
    assert "P-0002" not in str(err.value)
    assert len(keyed.find(keys={"encounter_id": "E-100"}).items) == 1


def test_a_unique_key_is_free_again_once_its_case_closes(keyed: Engine) -> None:
    first = _open(keyed, "P-0001", "E-7")
    _close(keyed, first.id)
    second = _open(keyed, "P-0001", "E-7")
    assert {c.id for c in keyed.find(keys={"encounter_id": "E-7"}).items} == {first.id, second.id}
    assert [c.id for c in keyed.find(keys={"encounter_id": "E-7"}, closed=False).items] == [
        second.id
    ]


def test_non_unique_keys_may_repeat_among_open_cases(keyed: Engine) -> None:
    _open(keyed, "P-0001", mrn=5)
    _open(keyed, "P-0001", mrn=5)
    assert len(keyed.find(keys={"mrn": 5}).items) == 2


def test_send_by_key_reaches_the_one_open_case(keyed: Engine) -> None:
    case = _open(keyed, "P-0001", "E-55")
    _open(keyed, "P-0002", "E-56")
    view = keyed.send_by_key("keyedtest", {"encounter_id": "E-55"}, "contacted", **CLERK)
    assert view.id == case.id
    assert view.state == "assessing"
    assert keyed.history(case.id)[-1].event == "contacted"


def test_send_by_key_refuses_none_several_and_undeclared_keys(keyed: Engine) -> None:
    _open(keyed, "P-0001", "E-1")
    _open(keyed, "P-0001", "E-2")
    with pytest.raises(BusinessKeyAmbiguous) as amb:
        keyed.send_by_key("keyedtest", {"patient_id": "P-0001"}, "contacted", **CLERK)
    assert len(amb.value.case_ids) == 2
    with pytest.raises(BusinessKeyNotFound):
        keyed.send_by_key("keyedtest", {"encounter_id": "E-404"}, "contacted", **CLERK)
    with pytest.raises(BusinessKeyNotFound, match="declares no business key 'program'"):
        keyed.send_by_key("keyedtest", {"program": "x"}, "contacted", **CLERK)
    with pytest.raises(BusinessKeyNotFound):
        keyed.send_by_key("keyedtest", {}, "contacted", **CLERK)


def test_send_by_key_does_not_reach_a_closed_case(keyed: Engine) -> None:
    case = _open(keyed, "P-0001", "E-9")
    _close(keyed, case.id)
    with pytest.raises(BusinessKeyNotFound):
        keyed.send_by_key("keyedtest", {"encounter_id": "E-9"}, "contacted", **CLERK)


def test_a_key_value_longer_than_the_index_is_a_payload_error(
    database_url: str, tmp_path: Path
) -> None:
    text = (KEYED / "keyedtest.yaml").read_text().replace("maxLength: 40", "maxLength: 4000")
    (tmp_path / "k.yaml").write_text(text)
    with Engine.open(database_url, workflows=tmp_path / "k.yaml", clock=ManualClock()) as eng:
        with pytest.raises(PayloadInvalid) as err:
            _open(eng, "P-0001", "E" * 501)
        assert err.value.json_path == "$.encounter_id"
        assert eng.find(keys={"patient_id": "P-0001"}).items == ()


def test_two_concurrent_openings_with_one_unique_value_let_exactly_one_in(
    keyed: Engine,
) -> None:
    results: list[object] = []
    barrier = threading.Barrier(4)

    def opener(i: int) -> None:
        barrier.wait()
        try:
            results.append(_open(keyed, f"P-000{i}", "E-RACE").id)
        except BusinessKeyConflict as exc:
            results.append(exc)

    threads = [threading.Thread(target=opener, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    opened = [r for r in results if isinstance(r, str)]
    assert len(opened) == 1
    assert all(isinstance(r, BusinessKeyConflict) for r in results if r not in opened)
    assert [c.id for c in keyed.find(keys={"encounter_id": "E-RACE"}).items] == opened


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    value=st.one_of(
        st.text(min_size=1, max_size=40).filter(lambda s: "\x00" not in s),
        st.integers(min_value=-(2**53), max_value=2**53),
    )
)
def test_any_key_value_the_schema_allows_is_found_again(sqlite_url: str, value: object) -> None:
    # sqlite only: hypothesis reuses the function-scoped engine fixture across examples
    with Engine.open(sqlite_url, workflows=KEYED, clock=ManualClock()) as eng:
        field = "mrn" if isinstance(value, int) else "encounter_id"
        for c in eng.find(keys={field: value}).items:  # an earlier example's case
            _close(eng, c.id)
        case = _open(eng, "P-0001", **{field: value})
        assert case.id in {c.id for c in eng.find(keys={field: value}).items}


def test_a_business_key_must_be_a_declared_string_or_integer_field(tmp_path: Path) -> None:
    text = (KEYED / "keyedtest.yaml").read_text()
    bad = text.replace("  - mrn\n", "  - mrn\n  - attempts_typo\n  - hold_reason\n  - patient_id\n")
    path = tmp_path / "bad.yaml"
    path.write_text(bad)
    report = check_paths([path])
    found = [(d.code, d.json_path, d.message) for d in report.errors]
    assert (
        "invalid-business-key",
        "$.business_keys[3]",
        "business key 'attempts_typo' is not a top-level field of case_schema",
    ) in found
    assert any(p == "$.business_keys[4]" and "string or integer" in m for _, p, m in found)
    assert any(p == "$.business_keys[5]" and "declared twice" in m for _, p, m in found)
    with pytest.raises(DefinitionError):
        load_workflow(path)


def test_business_keys_are_optional_and_default_to_none() -> None:
    defn = load_workflow(FIXTURES / "v1" / "enginetest.yaml")
    assert defn.business_keys == ()


def test_an_unknown_case_still_raises_case_not_found(keyed: Engine) -> None:
    with pytest.raises(CaseNotFound):
        keyed.get("00000000-0000-0000-0000-000000000000")
