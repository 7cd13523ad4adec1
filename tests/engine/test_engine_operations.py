"""Operator-facing behaviour: stats, access log, database clock on PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from engine_support import CLERK, RECORD, V1

from engine.cli.main import main
from engine.clock import ManualClock, SystemClock
from engine.runtime.engine import Engine


def test_stats_count_cases_timers_and_outbox(engine: Engine, clock: ManualClock) -> None:
    a = engine.open_case("enginetest", RECORD, **CLERK)
    engine.open_case("enginetest", RECORD, **CLERK)
    engine.send(a.id, "contacted", **CLERK)
    clock.advance(days=1, hours=1)
    stats = engine.stats()
    assert stats.cases_by_state == {("enginetest", "intake"): 1, ("enginetest", "assessing"): 1}
    assert stats.open_cases == 2
    assert stats.pending_timers == 3
    assert stats.overdue_timers == 1
    assert stats.outbox_pending == 3
    assert stats.oldest_pending_due == clock.now() - timedelta(hours=1)
    assert json.loads(json.dumps(stats.to_dict()))["open_cases"] == 2


def test_record_access_is_stored(engine: Engine, database_url: str) -> None:
    case = engine.open_case("enginetest", RECORD, **CLERK)
    engine.record_access(case.id, actor="auditor-1", what="get_case")
    db = sa.create_engine(database_url)
    with db.connect() as conn:
        rows = conn.execute(sa.text("SELECT actor, case_id, what FROM access_log")).all()
    db.dispose()
    assert [tuple(r) for r in rows] == [("auditor-1", case.id, "get_case")]


class _SkewedClock(SystemClock):
    """A machine whose clock is a year ahead."""

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(days=365)


@pytest.mark.postgres
def test_postgres_judges_due_timers_by_the_database_clock(postgres_url: str) -> None:
    with Engine.open(postgres_url, workflows=V1, clock=_SkewedClock()) as eng:
        case = eng.open_case("enginetest", RECORD, **CLERK)
        # the case was stamped and its timers armed by the database's clock
        assert abs(case.opened_at - datetime.now(UTC)) < timedelta(hours=1)
        assert eng.fire_due_timers() == 0  # a year-ahead worker fires nothing early
        db = sa.create_engine(postgres_url)
        with db.begin() as conn:
            conn.execute(sa.text("UPDATE timers SET due_at = now() - interval '1 minute'"))
        db.dispose()
        assert eng.fire_due_timers() == 2
        assert {h.timer for h in eng.history(case.id)[1:]} == {"nudge", "contact_deadline"}


def test_db_upgrade_creates_the_schema_on_an_empty_database(database_url: str, capsys) -> None:
    assert main(["db", "upgrade", "--database-url", database_url]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["from_revision"] is None
    assert out["to_revision"] == out["head"]
    with Engine.open(database_url, workflows=V1, upgrade=False) as eng:
        assert eng.definition("enginetest").version == 1


def test_database_url_from_environment(sqlite_url: str, monkeypatch, capsys) -> None:
    monkeypatch.setenv("CASEWORK_DATABASE_URL", sqlite_url)
    assert main(["db", "upgrade"]) == 0
    assert main(["audit", "verify"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert json.loads(out[-1])["ok"] is True
