"""Several processes on one database: no lost update, one winner, all or nothing."""

from __future__ import annotations

import multiprocessing as mp
import os
import select
import signal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from engine_support import CLERK, RECORD, V1
from mp_workers import run, send_and_hold

from engine.runtime.engine import Engine

pytestmark = pytest.mark.slow

PROCS = 4
SENDS = 20
CTX = mp.get_context("spawn")


@pytest.fixture
def case_id(database_url: str) -> str:
    with Engine.open(database_url, workflows=V1) as eng:
        return eng.open_case("enginetest", RECORD, **CLERK).id


def _parallel(name: str, args: list[tuple[Any, ...]]) -> list[Any]:
    """Run ``mp_workers.<name>`` in one spawned process per args tuple."""
    results = CTX.Queue()
    procs = [CTX.Process(target=run, args=(name, results, a)) for a in args]
    for p in procs:
        p.start()
    out = [results.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(60)
    errors = [r[1] for r in out if r[0] == "error"]
    assert not errors, errors
    return [r[1] for r in out]


def _contiguous(eng: Engine, case_id: str) -> int:
    version = eng.get(case_id).version
    assert [h.seq for h in eng.history(case_id)] == list(range(1, version + 1))
    return version


def test_conflicting_senders_lose_no_update(database_url: str, case_id: str) -> None:
    with Engine.open(database_url, workflows=V1) as eng:
        eng.send(case_id, "contacted", **CLERK)
    barrier = CTX.Barrier(PROCS)
    results = _parallel(
        "contend", [(database_url, case_id, SENDS, n, barrier) for n in range(PROCS)]
    )
    wins = sum(r[0] for r in results)
    conflicts = sum(r[1] for r in results)
    assert wins + conflicts == PROCS * SENDS
    assert wins >= SENDS  # at least one process always makes progress
    assert {s for r in results for s in r[2]} <= {"assessing"}
    with Engine.open(database_url, workflows=V1) as eng:
        version = _contiguous(eng, case_id)
        assert version == 2 + wins  # every win is exactly one version and one history row
        notes = [h.payload["note"] for h in eng.history(case_id) if h.event == "annotate"]
        assert len(notes) == len(set(notes)) == wins
        assert eng.verify_audit(case_id).ok


def test_one_winner_others_told_the_current_state(database_url: str, case_id: str) -> None:
    barrier = CTX.Barrier(PROCS)
    results = _parallel("race_one_event", [(database_url, case_id, barrier)] * PROCS)
    assert sorted(r[0] for r in results) == ["rejected"] * (PROCS - 1) + ["won"]
    assert {r[1] for r in results if r[0] == "rejected"} == {"assessing"}
    with Engine.open(database_url, workflows=V1) as eng:
        assert _contiguous(eng, case_id) == 2


def test_concurrent_retries_with_one_key_apply_once(database_url: str, case_id: str) -> None:
    barrier = CTX.Barrier(PROCS)
    results = _parallel("retry_with_key", [(database_url, case_id, "same-key", barrier)] * PROCS)
    assert all(r == results[0] for r in results)
    assert results[0]["version"] == 2
    with Engine.open(database_url, workflows=V1) as eng:
        assert _contiguous(eng, case_id) == 2
        assert [h.idempotency_key for h in eng.history(case_id)] == [None, "same-key"]


def test_sigkill_inside_a_transition_leaves_nothing_of_it(
    database_url: str, case_id: str, tmp_path: Path
) -> None:
    fifo = tmp_path / "hold.fifo"
    os.mkfifo(fifo)
    fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # RDWR: open never blocks, read waits for data
    proc = CTX.Process(target=send_and_hold, args=(database_url, case_id, str(fifo)))
    proc.start()
    try:
        ready, _, _ = select.select([fd], [], [], 120)
        assert ready, "the child never reached the hook"
        assert os.read(fd, 100) == b"holding\n"
    finally:
        os.close(fd)
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(60)
    assert proc.exitcode == -signal.SIGKILL
    with Engine.open(database_url, workflows=V1) as eng:
        case = eng.get(case_id)
        assert (case.state, case.version) == ("intake", 1)
        assert [h.seq for h in eng.history(case_id)] == [1]
        assert sorted(t.name for t in case.pending_timers) == ["contact_deadline", "nudge"]
        assert eng.outbox().items == ()
        assert eng.verify_audit().ok
        # the lock died with the process: the case accepts the event now
        assert eng.send(case_id, "contacted", **CLERK).version == 2
    db = sa.create_engine(database_url)
    with db.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM history")).scalar_one() == 2
    db.dispose()


def test_concurrent_opens_with_one_key_open_one_case(database_url: str) -> None:
    with Engine.open(database_url, workflows=V1):
        pass
    barrier = CTX.Barrier(PROCS)
    results = _parallel("open_with_key", [(database_url, "open-key", barrier)] * PROCS)
    assert all(r == results[0] for r in results)
    with Engine.open(database_url, workflows=V1) as eng:
        (case,) = eng.find().items
        assert case.id == results[0]["id"]
        assert len(eng.history(case.id)) == 1
