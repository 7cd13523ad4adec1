"""Access rows of concurrent readers share commits, and each reader returns once its row is in."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from engine.runtime.audit_trail import append_access
from engine.store import tables as t
from engine.store.group_commit import GroupCommit
from engine.store.interface import StoreTransaction


def test_callers_arriving_during_a_write_are_committed_together_in_the_next() -> None:
    batches: list[list[int]] = []
    first_started, release = threading.Event(), threading.Event()

    def write(items: Sequence[int]) -> None:
        batches.append(list(items))
        if len(batches) == 1:
            first_started.set()
            release.wait(10)

    group: GroupCommit[int] = GroupCommit(write)
    threads = [threading.Thread(target=group.submit, args=(0,))]
    threads[0].start()
    assert first_started.wait(10)
    for i in range(1, 9):  # queued while the first write is in progress
        threads.append(threading.Thread(target=group.submit, args=(i,)))
        threads[-1].start()
    while len(group._queue) < 8:  # all eight waiting
        threading.Event().wait(0.01)
    release.set()
    for th in threads:
        th.join(10)
    assert batches[0] == [0]
    assert sorted(batches[1]) == list(range(1, 9))
    assert len(batches) == 2


def test_every_caller_of_a_failed_batch_gets_the_error() -> None:
    def write(items: Sequence[int]) -> None:
        raise RuntimeError("disk full")

    group: GroupCommit[int] = GroupCommit(write)
    with pytest.raises(RuntimeError, match="disk full"):
        group.submit(1)
    with pytest.raises(RuntimeError):  # and the next caller writes (and fails) afresh
        group.submit(2)


def test_concurrent_audited_reads_are_all_durable_when_they_return(database_url: str) -> None:
    from engine.store.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(database_url)
    store.ensure_schema(upgrade=True)
    seen_missing: list[str] = []
    check = sa.create_engine(store.db.url)

    def reader(n: int) -> None:
        for i in range(10):
            what = f"case:{n}:{i}"

            def work(tx: StoreTransaction, what: str = what) -> None:
                append_access(tx, actor=f"actor-{n}", case_id=None, what=what, at=datetime.now(UTC))

            store.write_grouped(work)
            with check.connect() as conn:  # another connection sees it: committed
                q = sa.select(sa.func.count()).where(t.access_log.c.what == what)
                if conn.execute(q).scalar_one() != 1:
                    seen_missing.append(what)

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    with check.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(t.access_log)).scalar_one()
    check.dispose()
    store.close()
    assert seen_missing == []
    assert total == 80
    seqs = _seqs(database_url)
    assert seqs == list(range(1, 81))  # one chain, no gaps, whatever the batching


def _seqs(url: str) -> list[int]:
    eng = sa.create_engine(url)
    with eng.connect() as conn:
        rows = conn.execute(sa.select(t.access_log.c.seq).order_by(t.access_log.c.seq)).all()
    eng.dispose()
    return [int(r[0]) for r in rows]
