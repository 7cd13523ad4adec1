"""Finding 7: ``audit verify`` covers the case head, truncated tails, deleted cases and the
access log, and reads one snapshot (no false alarms while writers run)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from engine_support import CLERK, MANAGER, RECORD

from engine.cli.main import main
from engine.runtime.engine import Engine
from engine.store.database import normalise_url

KEY = b"k" * 32


@pytest.fixture
def db(database_url: str) -> Iterator[sa.Engine]:
    eng = sa.create_engine(normalise_url(database_url))
    yield eng
    eng.dispose()


def _cases(engine: Engine, n: int = 2) -> list[str]:
    ids = []
    for _ in range(n):
        case = engine.open_case("enginetest", RECORD, **CLERK)
        engine.send(case.id, "contacted", **CLERK)
        engine.send(case.id, "assessed", {"score": 9}, **MANAGER)
        ids.append(case.id)
    return ids


def _broken(engine: Engine, key: bytes | None = None) -> tuple[str, int, str]:
    report = engine.verify_audit(key=key)
    assert not report.ok
    assert report.first_broken is not None
    b = report.first_broken
    return b.case_id, b.seq, b.reason


def _json_text(column: str, value: object) -> object:
    return json.dumps(value) if column == "record" and not isinstance(value, str) else value


def _sql(db: sa.Engine, statement: str, **params: object) -> None:
    with db.begin() as conn:
        conn.execute(sa.text(statement), params)


def test_untouched_database_with_reads_and_checkpoints_verifies(engine: Engine) -> None:
    ids = _cases(engine)
    engine.record_access(ids[0], actor="nurse-1", what="case")
    engine.audit_checkpoint(key=KEY)
    engine.record_access(ids[1], actor="nurse-1", what="history")
    report = engine.verify_audit(key=KEY)
    assert report.ok, report
    assert (report.access_rows_checked, report.checkpoints_checked) == (2, 1)
    assert report.checkpoint_seals_checked
    assert not engine.verify_audit().checkpoint_seals_checked  # signed, no key given


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("state", "'contacted'"),
        ("phase", "'closed'"),
        ("previous_state", "'intake'"),
        ("state_entry_seq", "1"),
    ],
)
def test_edited_case_head_column_is_a_state_mismatch(
    engine: Engine, db: sa.Engine, column: str, value: str
) -> None:
    ids = _cases(engine)
    _sql(db, f"UPDATE cases SET {column} = {value} WHERE id = :c", c=ids[1])
    assert _broken(engine) == (ids[1], 3, "state_mismatch")


def test_closure_set_behind_the_engines_back_is_a_state_mismatch(
    engine: Engine, db: sa.Engine
) -> None:
    ids = _cases(engine)
    _sql(db, "UPDATE cases SET closed_at = opened_at WHERE id = :c", c=ids[0])
    assert _broken(engine) == (ids[0], 3, "state_mismatch")


def test_tail_deleted_after_a_checkpoint_is_history_truncated(
    engine: Engine, db: sa.Engine
) -> None:
    case = engine.open_case("enginetest", RECORD, **CLERK)
    engine.send(case.id, "contacted", **CLERK)
    with db.connect() as conn:
        saved = dict(conn.execute(sa.text("SELECT * FROM cases")).mappings().one())
    engine.send(case.id, "assessed", {"score": 9}, **MANAGER)
    engine.audit_checkpoint(key=KEY)
    with db.begin() as conn:
        conn.execute(sa.text("DELETE FROM outbox WHERE history_seq = 3"))
        conn.execute(sa.text("DELETE FROM history WHERE seq = 3"))
        sets = ", ".join(f"{k} = :{k}" for k in saved if k != "id")
        params = {k: _json_text(k, v) for k, v in saved.items()}
        conn.execute(sa.text(f"UPDATE cases SET {sets} WHERE id = :id"), params)
    assert _broken(engine, KEY) == (case.id, 3, "history_truncated")
    _sql(db, "DELETE FROM audit_checkpoints")  # what no checkpoint covers, chains cannot see
    assert engine.verify_audit().ok


def test_whole_case_deleted_is_caught_by_a_checkpoint(engine: Engine, db: sa.Engine) -> None:
    ids = _cases(engine)
    engine.audit_checkpoint()
    with db.begin() as conn:
        for table in ("outbox", "timers", "history"):
            conn.execute(sa.text(f"DELETE FROM {table} WHERE case_id = :c"), {"c": ids[1]})
        conn.execute(sa.text("DELETE FROM cases WHERE id = :c"), {"c": ids[1]})
    assert _broken(engine) == (ids[1], 3, "case_deleted")


def test_rewritten_checkpoint_without_the_key_is_a_seal_mismatch(
    engine: Engine, db: sa.Engine
) -> None:
    _cases(engine)
    engine.audit_checkpoint(key=KEY)
    _sql(db, "UPDATE audit_checkpoints SET heads = :h", h="[]")
    assert _broken(engine, KEY) == ("", 1, "checkpoint_seal_mismatch")


def test_deleted_checkpoint_in_the_middle_is_a_gap(engine: Engine, db: sa.Engine) -> None:
    _cases(engine, 1)
    for _ in range(3):
        engine.audit_checkpoint(key=KEY)
    _sql(db, "DELETE FROM audit_checkpoints WHERE id = 2")
    assert _broken(engine, KEY) == ("", 2, "checkpoint_gap")


def test_edited_access_row_is_an_access_hash_mismatch(engine: Engine, db: sa.Engine) -> None:
    ids = _cases(engine, 1)
    for what in ("case", "history", "case"):
        engine.record_access(ids[0], actor="nurse-1", what=what)
    _sql(db, "UPDATE access_log SET actor = 'someone-else' WHERE seq = 2")
    assert _broken(engine) == ("", 2, "access_hash_mismatch")


def test_deleted_access_row_is_an_access_seq_gap(engine: Engine, db: sa.Engine) -> None:
    ids = _cases(engine, 1)
    for what in ("case", "history", "case"):
        engine.record_access(ids[0], actor="nurse-1", what=what)
    _sql(db, "DELETE FROM access_log WHERE seq = 2")
    assert _broken(engine) == ("", 3, "access_seq_gap")


def test_truncated_access_log_is_caught_by_a_checkpoint(engine: Engine, db: sa.Engine) -> None:
    ids = _cases(engine, 1)
    for what in ("case", "history"):
        engine.record_access(ids[0], actor="nurse-1", what=what)
    engine.audit_checkpoint()
    _sql(db, "DELETE FROM access_log WHERE seq = 2")
    assert _broken(engine) == ("", 2, "access_truncated")


def test_concurrent_access_records_form_one_chain(engine: Engine) -> None:
    ids = _cases(engine, 1)

    def reads() -> None:
        for _ in range(15):
            engine.record_access(ids[0], actor="nurse-1", what="case")

    threads = [threading.Thread(target=reads) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = engine.verify_audit()
    assert report.ok, report
    assert report.access_rows_checked == 45


def test_verify_never_reports_tampering_while_writers_run(engine: Engine) -> None:
    """Writers open and advance cases and read them during every verify run."""
    _cases(engine, 2)
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            while not stop.is_set():
                case = engine.open_case("enginetest", RECORD, **CLERK)
                engine.send(case.id, "contacted", **CLERK)
                engine.record_access(case.id, actor="nurse-1", what="case")
                engine.send(case.id, "assessed", {"score": 9}, **MANAGER)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        reports = []
        for n in range(12):
            if n == 6:
                engine.audit_checkpoint()
            reports.append(engine.verify_audit())
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors
    assert all(r.ok for r in reports), [r.first_broken for r in reports if not r.ok]
    assert reports[-1].cases_checked > 2


def test_cli_checkpoint_and_verify_with_a_key_file(
    engine: Engine, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _cases(engine, 1)
    key = tmp_path / "audit.key"
    key.write_bytes(KEY)
    key.chmod(0o644)
    assert main(["audit", "checkpoint", "--database-url", database_url, "--key-file", str(key)])
    assert json.loads(capsys.readouterr().out)["error"] == "audit_key_refused"
    os.chmod(key, 0o600)
    assert (
        main(["audit", "checkpoint", "--database-url", database_url, "--key-file", str(key)]) == 0
    )
    cp = json.loads(capsys.readouterr().out)
    assert (cp["checkpoint"], cp["cases"], cp["signed"]) == (1, 1, True)
    assert main(["audit", "verify", "--database-url", database_url, "--key-file", str(key)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"]
    assert report["checkpoint_seals_checked"]
