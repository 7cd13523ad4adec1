"""Importing a caseload: checked first, written in batches, idempotent, deadlines from dates."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from continuity_support import START, V1, outreach_rows, write_csv, write_jsonl
from phi_sentinel import SENTINEL

from engine import Engine, ManualClock
from engine.store.records import HistoryOutcome


def test_deadlines_count_from_the_rows_dates(database_url: str, tmp_path: Path) -> None:
    clock = ManualClock(START)
    rows = [
        {
            "workflow": "outreach",
            "state": "assessing",
            "opened_at": "2026-02-01",
            "entered_at": (START - timedelta(days=10)).isoformat(),
            "record": {"patient_id": "P-1"},
        },
        {
            "workflow": "outreach",
            "state": "monitoring",
            "entered_at": "2026-02-20",
            "record": {"patient_id": "P-2", "last_assessment_date": "2025-06-01"},
            "clocks": {"annual_reassessment": "anchor"},
        },
    ]
    with Engine.open(database_url, workflows=V1, clock=clock) as eng:
        rep = eng.import_caseload(write_jsonl(tmp_path / "r.jsonl", rows), actor="importer")
        assert (rep.rows, rep.written, rep.problems) == (2, 2, [])
        a, m = (eng.get(c.id) for c in eng.find(workflow="outreach").items)
        (timer,) = a.pending_timers
        assert timer.due_at - START == timedelta(days=4)  # 14 days, 10 of them gone
        assert a.opened_at.date().isoformat() == "2026-02-01"
        clocks = {t.name: t.due_at for t in m.pending_timers}
        assert clocks["annual_reassessment"].date().isoformat() == "2026-06-01"
        (h,) = eng.history(a.id)
        assert (h.event, h.outcome, h.actor) == ("@import", HistoryOutcome.IMPORTED, "importer")
        assert h.payload["import"] == rep.import_id
        assert h.payload["line"] == 1
        assert eng.verify_audit().ok


def test_every_bad_row_is_reported_with_line_and_field_and_nothing_is_written(
    database_url: str, tmp_path: Path
) -> None:
    clock = ManualClock(START)
    future = (START + timedelta(days=2)).date().isoformat()
    ok = {"workflow": "outreach", "state": "referral", "record": {"patient_id": "P-0"}}
    lines = [
        json.dumps(ok),
        json.dumps({**ok, "workflow": "nosuch"}),
        json.dumps({**ok, "state": "asessing"}),
        json.dumps({**ok, "record": {"patient_id": "P-3", "risk_level": SENTINEL}}),
        json.dumps({**ok, "record": {"patient_id": "P-4", "note": SENTINEL}}),
        json.dumps(
            {**ok, "state": "assessing", "entered_at": future, "record": {"patient_id": "P-5"}}
        ),
        json.dumps(
            {
                **ok,
                "state": "monitoring",
                "entered_at": "2026-03-01",
                "record": {"patient_id": "P-6", "last_assessment_date": future},
                "clocks": {"annual_reassessment": "anchor"},
            }
        ),
        json.dumps({**ok, "record": {"risk_level": "low"}}),
        json.dumps(ok),
        json.dumps({**ok, "record": {"patient_id": "P-9"}, "clocks": {"weekly": "2026-03-01"}}),
        "{not json",
        json.dumps({**ok, "state": "assessing", "record": {"patient_id": "P-11"}}),
        json.dumps({**ok, "state": "closed", "record": {"patient_id": "P-12"}}),
    ]
    f = tmp_path / "bad.jsonl"
    f.write_text("\n".join(lines) + "\n")
    with Engine.open(database_url, workflows=V1, clock=clock) as eng:
        rep = eng.import_caseload(f, actor="importer")
        assert [(p.line, p.field) for p in rep.problems] == [
            (2, "workflow"),
            (3, "state"),
            (4, "record.risk_level"),
            (5, "record.note"),
            (6, "entered_at"),
            (7, "record.last_assessment_date"),
            (8, "record.patient_id"),
            (9, "record.patient_id"),  # the key of line 1 again
            (10, "clocks.weekly"),
            (11, "$"),
            (12, "entered_at"),
            (13, "state"),
        ]
        assert "in the future" in rep.problems[4].message
        assert all(SENTINEL not in str(p) for p in rep.problems)
        assert rep.written == 0
        assert eng.find(workflow="outreach", with_total=True).total == 0


def test_running_an_import_again_changes_nothing(database_url: str, tmp_path: Path) -> None:
    clock = ManualClock(START)
    f = write_jsonl(tmp_path / "r.jsonl", outreach_rows(40, clock.now()))
    with Engine.open(database_url, workflows=V1, clock=clock) as eng:
        assert eng.import_caseload(f, actor="importer", batch=7).written == 40
        before = {
            c.id: (c.version, eng.get(c.id).pending_timers)
            for c in eng.find(workflow="outreach", limit=100).items
        }
        clock.advance(timedelta(hours=1))
        again = eng.import_caseload(f, actor="importer", batch=7)
        assert (again.written, again.already) == (0, 40)
        after = {
            c.id: (c.version, eng.get(c.id).pending_timers)
            for c in eng.find(workflow="outreach", limit=100).items
        }
        assert after == before
        assert eng.verify_audit().ok


def test_cases_imported_from_csv_fire_their_overdue_deadlines_once(
    database_url: str, tmp_path: Path
) -> None:
    clock = ManualClock(START)
    n = 2_000  # bench/continuity.py imports 100,000
    rows = outreach_rows(n, clock.now(), age_days=20, monitoring_every=0)
    f = write_csv(tmp_path / "caseload.csv", rows)
    with Engine.open(database_url, workflows=V1, clock=clock) as eng:
        seen: list[int] = []
        rep = eng.import_caseload(
            f, actor="importer", batch=500, progress=lambda d, t: seen.append(d)
        )
        assert (rep.written, seen) == (n, [500, 1000, 1500, 2000])
        assert eng.find(workflow="outreach", overdue=True, with_total=True).total == n
        fired = 0
        while batch := eng.fire_due_timers(limit=500):
            fired += batch
        assert fired == n
        clock.advance(timedelta(days=60))
        assert eng.fire_due_timers() == 0
        page = eng.find(workflow="outreach", limit=50).items
        for c in page:
            events = [h.event for h in eng.history(c.id)]
            assert events == ["@import", "assessment_overdue"]
        assert any(eng.get(c.id).record.get("legacy_code") == SENTINEL for c in page)
        assert eng.verify_audit().ok
