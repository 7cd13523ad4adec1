"""Tamper-evident history: the hash chain and ``casework audit verify``."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from engine_support import CLERK, MANAGER, RECORD

from engine.cli.main import main
from engine.errors import CaseNotFound
from engine.runtime.engine import Engine


def _make_cases(engine: Engine) -> list[str]:
    ids = []
    for _ in range(2):
        case = engine.open_case("enginetest", RECORD, **CLERK)
        engine.send(case.id, "contacted", **CLERK)
        engine.send(case.id, "assessed", {"score": 9}, **MANAGER)
        ids.append(case.id)
    return ids


def test_untouched_history_verifies(engine: Engine) -> None:
    ids = _make_cases(engine)
    report = engine.verify_audit()
    assert report.ok
    assert (report.cases_checked, report.rows_checked) == (2, 6)
    assert engine.verify_audit(ids[0]).rows_checked == 3
    with pytest.raises(CaseNotFound):
        engine.verify_audit("nope")


def test_edited_row_is_reported_with_its_seq(engine: Engine, database_url: str, capsys) -> None:
    ids = _make_cases(engine)
    db = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    with db.begin() as conn:
        conn.execute(
            sa.text("UPDATE history SET actor = 'mallory' WHERE case_id = :c AND seq = 2"),
            {"c": ids[1]},
        )
    db.dispose()
    report = engine.verify_audit()
    assert not report.ok
    assert report.first_broken is not None
    assert (report.first_broken.case_id, report.first_broken.seq) == (ids[1], 2)
    assert report.first_broken.reason == "hash_mismatch"
    assert engine.verify_audit(ids[0]).ok
    assert main(["audit", "verify", "--database-url", database_url]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["first_broken"] == {"case_id": ids[1], "seq": 2, "reason": "hash_mismatch"}


def test_deleted_tail_row_is_detected(engine: Engine, database_url: str) -> None:
    ids = _make_cases(engine)
    db = sa.create_engine(database_url)
    with db.begin() as conn:
        conn.execute(sa.text("DELETE FROM history WHERE case_id = :c AND seq = 3"), {"c": ids[0]})
    db.dispose()
    report = engine.verify_audit(ids[0])
    assert not report.ok
    assert report.first_broken is not None
    assert report.first_broken.reason == "head_mismatch"


def test_record_edited_behind_the_engines_back_is_detected(
    engine: Engine, database_url: str
) -> None:
    ids = _make_cases(engine)
    db = sa.create_engine(database_url)
    with db.begin() as conn:
        conn.execute(
            sa.text("UPDATE cases SET record = :r WHERE id = :c"),
            {"r": '{"patient_id": "P-9999", "attempts": 0, "score": 9}', "c": ids[0]},
        )
    db.dispose()
    report = engine.verify_audit()
    assert report.first_broken is not None
    assert (report.first_broken.case_id, report.first_broken.seq) == (ids[0], 3)
    assert report.first_broken.reason == "record_mismatch"
