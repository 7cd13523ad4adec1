"""The change feed: every committed history entry once, in commit order, resumable by cursor,
also while concurrent transactions commit out of the order they started in."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from engine_support import CLERK, RECORD, V1

from engine.clock import ManualClock
from engine.runtime.engine import Engine
from engine.runtime.host_services import parse_change_cursor
from engine.store.interface import StoreTransaction
from engine.store.sqlalchemy_store import SqlAlchemyStore, SqlAlchemyTransaction


def _drain(eng: Engine, cursor: str | None = None, **filters: Any) -> tuple[list[Any], str]:
    seen: list[Any] = []
    while True:
        page = eng.changes(after=cursor, limit=3, **filters)
        seen.extend(page.items)
        if page.next_cursor == cursor:
            return seen, page.next_cursor
        cursor = page.next_cursor


def test_the_feed_lists_every_entry_in_commit_order_and_resumes_without_gaps(
    engine: Engine,
) -> None:
    a = engine.open_case("enginetest", RECORD, **CLERK)
    engine.send(a.id, "contacted", **CLERK)
    b = engine.open_case("enginetest", RECORD, **CLERK)
    first, cursor = _drain(engine)
    assert [(c.entry.case_id, c.entry.seq) for c in first] == [(a.id, 1), (a.id, 2), (b.id, 1)]
    assert [c.workflow for c in first] == ["enginetest"] * 3
    positions = [int(c.cursor) for c in first]
    assert positions == sorted(positions)
    assert len(set(positions)) == 3
    engine.send(b.id, "contacted", **CLERK)  # after a "disconnect": resume from the cursor
    more, cursor2 = _drain(engine, cursor)
    assert [(c.entry.case_id, c.entry.seq, c.entry.event) for c in more] == [
        (b.id, 2, "contacted")
    ]
    assert engine.changes(after=cursor2).items == ()
    assert engine.changes(after=cursor2).next_cursor == cursor2
    assert engine.latest_change_cursor() == cursor2


def test_the_feed_filters_by_workflow(engine: Engine) -> None:
    engine.open_case("enginetest", RECORD, **CLERK)
    assert len(engine.changes(workflow="enginetest").items) == 1
    assert engine.changes(workflow="other").items == ()
    assert engine.changes(workflow="no such; name").items == ()


def test_timer_firings_are_in_the_feed(engine: Engine, clock: ManualClock) -> None:
    from datetime import timedelta

    case = engine.open_case("enginetest", RECORD, **CLERK)
    clock.advance(timedelta(days=3))
    assert engine.fire_due_timers() >= 1
    entries, _ = _drain(engine)
    assert [c.entry.case_id for c in entries] == [case.id] * len(entries)
    assert any(c.entry.timer for c in entries)


@pytest.mark.parametrize("bad", ["-1", "1.5", "abc", "9" * 20, "\uff11"])
def test_a_malformed_cursor_is_a_value_error(bad: str) -> None:
    with pytest.raises(ValueError, match="decimal position"):
        parse_change_cursor(bad)


class _HeldTransaction(SqlAlchemyTransaction):
    reached: threading.Event
    release: threading.Event

    def advance_case(self, before: Any, after: Any, history: Any) -> bool:
        ok = super().advance_case(before, after, history)
        self.reached.set()
        assert self.release.wait(60)
        return ok


class HoldingStore(SqlAlchemyStore):
    """Write transactions pause after their history row, before committing, until released."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.reached = threading.Event()
        self.release = threading.Event()

    @contextmanager
    def write(self) -> Iterator[StoreTransaction]:
        with super().write() as tx:
            assert isinstance(tx, SqlAlchemyTransaction)
            held = _HeldTransaction(tx.conn, tx.postgres)
            held.reached, held.release = self.reached, self.release
            yield held


def _waiting_on_a_lock(url: str) -> int:
    db = sa.create_engine(url)
    try:
        with db.connect() as conn:
            return int(
                conn.execute(
                    sa.text(
                        "select count(*) from pg_stat_activity where wait_event_type = 'Lock' "
                        "and datname = current_database()"
                    )
                ).scalar_one()
            )
    finally:
        db.dispose()


@pytest.mark.postgres
def test_a_transaction_that_started_first_and_commits_last_is_not_skipped(
    postgres_url: str,
) -> None:
    """T1 writes its history row and stalls; T2 writes after it and would commit first.
    A reader between them must not be shown T2's entry (it would move its cursor past
    T1's and never see it): T2's position is only handed out after T1 commits."""
    setup = Engine.open(postgres_url, workflows=V1, clock=ManualClock())
    held_store = HoldingStore(postgres_url)
    slow = Engine.open(postgres_url, workflows=V1, clock=ManualClock(), store=held_store)
    try:
        c1 = setup.open_case("enginetest", RECORD, **CLERK)
        c2 = setup.open_case("enginetest", RECORD, **CLERK)
        _, cursor = _drain(setup)
        t1 = threading.Thread(target=lambda: slow.send(c1.id, "contacted", **CLERK))
        t2 = threading.Thread(target=lambda: setup.send(c2.id, "contacted", **CLERK))
        t1.start()
        assert held_store.reached.wait(60)  # T1 holds its history row, uncommitted
        t2.start()
        # T2 queues behind T1's feed position (a serial id would let it commit right away)
        while t2.is_alive() and _waiting_on_a_lock(postgres_url) < 1:
            threading.Event().wait(0.05)
        assert setup.changes(after=cursor).items == ()  # nothing may be served yet
        held_store.release.set()
        t1.join(60)
        t2.join(60)
        entries, _ = _drain(setup, cursor)
        assert [(c.entry.case_id, c.entry.event) for c in entries] == [
            (c1.id, "contacted"),
            (c2.id, "contacted"),
        ]
    finally:
        held_store.release.set()
        slow.close()
        setup.close()


def test_a_reader_tailing_two_concurrent_writers_sees_every_entry_exactly_once(
    database_url: str,
) -> None:
    reader = Engine.open(database_url, workflows=V1, clock=ManualClock())
    writers = [Engine.open(database_url, workflows=V1, clock=ManualClock()) for _ in range(2)]
    done = threading.Event()
    seen: list[tuple[str, int]] = []
    errors: list[BaseException] = []

    def write(eng: Engine) -> None:
        try:
            for _ in range(15):
                case = eng.open_case("enginetest", RECORD, **CLERK)
                eng.send(case.id, "contacted", **CLERK)
                eng.send(case.id, "assessed", {"score": 7}, **MANAGER_ROLE)
        except BaseException as exc:
            errors.append(exc)

    def tail() -> None:
        cursor: str | None = None
        while True:
            finished = done.is_set()
            page = reader.changes(after=cursor, limit=7)
            seen.extend((c.entry.case_id, c.entry.seq) for c in page.items)
            cursor = page.next_cursor
            if finished and not page.items:
                return

    try:
        tailer = threading.Thread(target=tail)
        threads = [threading.Thread(target=write, args=(w,)) for w in writers]
        tailer.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        done.set()
        tailer.join()
        assert errors == []
        store = reader._context.store
        with store.read() as tx:
            every = [(h.case_id, h.seq) for h in tx.history_batches(None)]
        assert len(seen) == len(set(seen))  # no duplicates
        assert sorted(seen) == sorted(every)  # no gaps
        assert len(every) == 2 * 15 * 3
    finally:
        reader.close()
        for w in writers:
            w.close()


MANAGER_ROLE = {"actor": "mgr-1", "roles": ["manager"]}
