"""Engine.search (most late first, next deadline first, keyset pages, totals) on both
databases; event forms built from every bundled payload schema and read back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.api.console.forms import (
    Field,
    FormInvalid,
    event_schema,
    fields_for,
    payload_from,
)
from engine.clock import ManualClock
from engine.definitions import load_workflows
from engine.runtime.engine import Engine
from engine.store.records import CaseQuery, CaseSort
from tests.console.seed import CM, RECORD, WORKFLOWS

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _all(engine: Engine, query: CaseQuery, sort: CaseSort, limit: int) -> list[str]:
    out: list[str] = []
    cursor = None
    while True:
        page = engine.search(query, sort=sort, limit=limit, cursor=cursor)
        assert page.total is not None
        out += [c.id for c in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return out


def test_search_pages_cover_every_match_once_in_lateness_and_deadline_order(database_url):
    clock = ManualClock(NOW - timedelta(days=60))
    with Engine.open(database_url, workflows=WORKFLOWS, clock=clock) as eng:
        opened: dict[str, int] = {}
        for i, days in enumerate((45, 3, 30, 50, 1, 21, 40)):
            clock.set(NOW - timedelta(days=days))
            case = eng.open_case("brokerage", {**RECORD, "patient_id": f"P-{i:04d}"},
                                 actor="t", roles=CM)  # fmt: skip
            opened[case.id] = days
        clock.set(NOW)
        late_first = _all(eng, CaseQuery(overdue=True), CaseSort.LATE, limit=2)
        assert late_first == sorted((c for c in opened if opened[c] >= 21),
                                    key=lambda c: -opened[c])  # fmt: skip
        page = eng.search(CaseQuery(overdue=True), sort=CaseSort.LATE, limit=2)
        assert page.total == len(late_first)
        assert page.sort_at[0] is not None
        assert page.sort_at[0] < page.sort_at[1]
        everyone = _all(eng, CaseQuery(), CaseSort.LATE, limit=3)
        assert everyone[: len(late_first)] == late_first  # the cases not late come last
        assert sorted(everyone) == sorted(opened)
        by_due = _all(eng, CaseQuery(), CaseSort.DUE, limit=4)
        due = {c.id: c.pending_timers[0].due_at for c in eng.search(CaseQuery()).items}
        assert by_due == sorted(opened, key=lambda c: (due[c], c))  # ties by id
        by_opening = sorted(opened, key=lambda c: -opened[c])
        assert _all(eng, CaseQuery(), CaseSort.OPENED, limit=5) == by_opening
        assert eng.search(CaseQuery(workflow="nope")).total == 0
        cursor = eng.search(CaseQuery(), sort=CaseSort.DUE, limit=1).next_cursor
        with pytest.raises(ValueError, match="another sort"):
            eng.search(CaseQuery(), sort=CaseSort.LATE, cursor=cursor)


def test_every_bundled_event_payload_schema_gives_a_form():
    for defn in load_workflows([WORKFLOWS]):
        for t in defn.transitions:
            fields = fields_for(event_schema(defn, t.source, t.event))
            names = set((t.payload_schema or {}).get("properties") or {})
            if event_schema(defn, t.source, t.event) is t.payload_schema:
                assert {f.name for f in fields} == names


def test_a_required_field_left_empty_is_refused():
    with pytest.raises(FormInvalid, match="contact_date is required"):
        payload_from({"f_contact_date": [""]}, [Field("contact_date", "date", True)])


@given(
    st.integers(min_value=-(2**53), max_value=2**53),
    st.booleans(),
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1)
    .map(str.strip)
    .filter(bool),
)
def test_posted_values_come_back_as_their_json_types(number, flag, text):
    fields = [Field("n", "integer", True), Field("b", "boolean", False), Field("s", "text", False),
              Field("absent", "number", False)]  # fmt: skip
    form = {"f_n": [str(number)], "f_b": ["true" if flag else "false"], "f_s": [text]}
    assert payload_from(form, fields) == {"n": number, "b": flag, "s": text}
