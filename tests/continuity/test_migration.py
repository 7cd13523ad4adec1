"""Running cases move to a new version by a plan: in batches, resumable, audited."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from continuity_support import MANAGER, PLANS, START, V1, V2, outreach_rows, write_jsonl
from phi_sentinel import SENTINEL

from engine import Engine, ManualClock
from engine.store.records import HistoryOutcome


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def _import_v1(url: str, clock: ManualClock, tmp_path: Path, n: int, **kw: Any) -> None:
    with Engine.open(url, workflows=V1, clock=clock) as eng:
        rows = write_jsonl(tmp_path / "v1.jsonl", outreach_rows(n, clock.now(), **kw))
        assert eng.import_caseload(rows, actor="importer", batch=1000).written == n


@contextmanager
def _both(url: str, clock: ManualClock) -> Iterator[Engine]:
    """The engine with v1 and v2 registered (v2 the newest)."""
    eng = Engine.open(url, workflows=[V1, V2], clock=clock)
    try:
        yield eng
    finally:
        eng.close()


def _all(eng: Engine) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        page = eng.find(workflow="outreach", limit=1000, cursor=cursor)
        ids.extend(c.id for c in page.items)
        cursor = page.next_cursor
        if cursor is None:
            return ids


def test_ten_thousand_running_v1_cases_move_to_v2_with_a_plan_renaming_a_state(
    database_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    _import_v1(database_url, clock, tmp_path, 10_000, age_days=3)
    clock.advance(timedelta(hours=1))
    with _both(database_url, clock) as eng:
        seen: list[tuple[int, int]] = []
        plan = eng.migration_plan(PLANS / "rename.yaml")
        rep = eng.migrate(
            plan, actor="migrator", batch=500, progress=lambda d, t: seen.append((d, t))
        )
        assert (rep.moved, rep.refused, rep.already) == (10_000, [], 0)
        assert rep.states["assessing"].to_dict() == {
            "from_state": "assessing",
            "to_state": "evaluating",
            "cases": 6667,
            "movable": 6667,
            "cannot_move": 0,
            "timers": {"assessment_due": {"recompute": 6667}},
            "clocks": {},
            "armed": {},
        }
        assert rep.states["monitoring"].clocks == {"annual_reassessment": {"keep": 3333}}
        assert seen[-1] == (10_000, 10_000)
        assert len(seen) == 20
        assert eng.find(workflow="outreach", state="assessing", with_total=True).total == 0
        assert eng.find(workflow="outreach", state="evaluating", with_total=True).total == 6667
        assert eng.find(workflow="outreach", state="monitoring", with_total=True).total == 3333
        ids = _all(eng)
        assert len(ids) == 10_000
        for case_id in ids[:3] + ids[-3:]:
            case = eng.get(case_id)
            assert case.workflow_version == 2
            assert case.record["consent_on_file"] is False
            assert "legacy_code" not in case.record
            last = eng.history(case_id)[-1]
            assert (last.event, last.outcome, last.workflow_version) == ("@migrate", "migrated", 2)
            assert last.actor == "migrator"
            if case.state == "evaluating":  # entered 3 days before the import: 10 days, not 14
                (timer,) = case.pending_timers
                assert (timer.name, timer.state) == ("assessment_due", "evaluating")
                assert timer.due_at == START - timedelta(days=3) + timedelta(days=10)
        assert eng.verify_audit().ok
        again = eng.migrate(plan, actor="migrator", batch=500)
        assert (again.moved, again.already) == (0, 10_000)


def _snapshot(eng: Engine) -> dict[str, tuple[int, int, str]]:
    return {i: (c.version, c.workflow_version, c.state) for i in _all(eng) for c in [eng.get(i)]}


def test_a_dry_run_reports_per_state_and_changes_no_case(
    database_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    _import_v1(database_url, clock, tmp_path, 30)
    with _both(database_url, clock) as eng:
        before = _snapshot(eng)
        plan = eng.migration_plan(PLANS / "rename.yaml")
        rep = eng.migrate(plan, actor="analyst", dry_run=True)
        assert rep.dry_run
        assert rep.moved == 30
        by_state = {s.source: (s.target, s.cases, s.movable) for s in rep.states.values()}
        assert by_state["assessing"] == ("evaluating", 20, 20)
        assert by_state["monitoring"] == ("monitoring", 10, 10)
        assert rep.states["monitoring"].timers == {"contact_cadence": {"keep": 10}}
        assert rep.to_dict()["record"] == {"set": ["consent_on_file"], "removed": ["legacy_code"]}
        assert _snapshot(eng) == before
        assert eng.verify_audit().ok


def test_an_interrupted_run_resumes_and_moves_each_case_once(
    database_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    _import_v1(database_url, clock, tmp_path, 50)

    class Interrupted(Exception):
        pass

    def stop_after_two(done: int, total: int) -> None:
        if done >= 20:
            raise Interrupted

    with _both(database_url, clock) as eng:
        plan = eng.migration_plan(PLANS / "rename.yaml")
        with pytest.raises(Interrupted):
            eng.migrate(plan, actor="migrator", batch=10, progress=stop_after_two)
        versions = [eng.get(i).workflow_version for i in _all(eng)]
        assert versions.count(2) == 20
        assert versions.count(1) == 30
        rep = eng.migrate(plan, actor="migrator", batch=10)
        assert (rep.moved, rep.already) == (30, 20)
        for i in _all(eng):
            events = [h.event for h in eng.history(i)]
            assert events == ["@import", "@migrate"]
        assert eng.verify_audit().ok


def test_cases_that_cannot_move_are_listed_with_why_and_left_untouched(
    database_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    rows = [
        {
            "workflow": "outreach",
            "state": "assessing",
            "entered_at": "2026-03-01",
            "record": {"patient_id": "P-A", "legacy_code": "C"},
        },
        {
            "workflow": "outreach",
            "state": "assessing",
            "entered_at": "2026-03-01",
            "record": {"patient_id": "P-B"},
        },
        {
            "workflow": "outreach",
            "state": "monitoring",
            "entered_at": "2026-03-01",
            "record": {"patient_id": "P-C", "legacy_code": SENTINEL},
        },
    ]
    with Engine.open(database_url, workflows=V1, clock=clock) as eng:
        eng.import_caseload(write_jsonl(tmp_path / "r.jsonl", rows), actor="importer")
    with _both(database_url, clock) as eng:
        before = _snapshot(eng)
        plan = eng.migration_plan(PLANS / "guarded.yaml")
        rep = eng.migrate(plan, actor="migrator")
        assert rep.moved == 1
        reasons = {c.state: c.reason for c in rep.refused}
        assert reasons == {
            "assessing": "record.set.consent_on_file could not be evaluated: field "
            "'case.legacy_code' is missing (test it with has(case.legacy_code) first)",
            "monitoring": "states.monitoring.when is false",
        }
        assert all(SENTINEL not in c.reason for c in rep.refused)
        after = _snapshot(eng)
        moved = [i for i in after if after[i] != before[i]]
        assert len(moved) == 1
        assert eng.get(moved[0]).record["consent_on_file"] is True
        for c in rep.refused:
            assert after[c.case_id] == before[c.case_id]
            assert [h.event for h in eng.history(c.case_id)] == ["@import"]
        assert eng.verify_audit().ok


def test_a_recomputed_deadline_counts_from_the_state_entry_of_an_event_driven_case(
    database_url: str, clock: ManualClock
) -> None:
    with Engine.open(database_url, workflows=V1, clock=clock) as eng:
        case = eng.open_case("outreach", {"patient_id": "P-1", "legacy_code": "x"}, **MANAGER)
        clock.advance(timedelta(days=1))
        eng.send(case.id, "accepted", **MANAGER)
        entered = clock.now()
    clock.advance(timedelta(days=3))
    with _both(database_url, clock) as eng:
        rep = eng.migrate(eng.migration_plan(PLANS / "rename.yaml"), actor="migrator")
        assert rep.moved == 1
        (timer,) = eng.get(case.id).pending_timers
        assert timer.due_at == entered + timedelta(days=10)  # v2's 10 days from the entry
        clock.advance(timedelta(days=7))
        assert eng.fire_due_timers() == 1
        assert eng.fire_due_timers() == 0
        events = [h.event for h in eng.history(case.id)]
        assert events == ["@open", "accepted", "@migrate", "assessment_overdue"]
        assert eng.verify_audit().ok


def test_a_recomputed_deadline_already_past_fires_once_after_the_move(
    database_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    _import_v1(database_url, clock, tmp_path, 4, age_days=12, monitoring_every=0)
    with _both(database_url, clock) as eng:
        assert eng.find(workflow="outreach", overdue=True, with_total=True).total == 0
        eng.migrate(eng.migration_plan(PLANS / "rename.yaml"), actor="migrator")
        assert eng.find(workflow="outreach", overdue=True, with_total=True).total == 4
        assert eng.fire_due_timers() == 4
        clock.advance(timedelta(days=30))
        assert eng.fire_due_timers() == 0
        for i in _all(eng):
            fired = [h for h in eng.history(i) if h.outcome == HistoryOutcome.TIMER]
            assert [h.event for h in fired] == ["assessment_overdue"]
