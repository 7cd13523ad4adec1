"""Work item timers and clocks fire exactly once through the timer claim; a crash in the
middle of an item change leaves nothing behind."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from items_support import CM, PATIENT, PROVIDER, open_engine

from engine.clock import ManualClock
from engine.runtime.engine import Engine
from engine.store.interface import StoreTransaction

HOUSING = {"provider": "Housing First", "service": "housing"}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def eng(database_url: str, clock: ManualClock) -> Iterator[Engine]:
    e = open_engine(database_url, clock)
    try:
        yield e
    finally:
        e.close()


def test_item_timer_fires_once_and_sends_its_event_to_its_item(
    eng: Engine, clock: ManualClock
) -> None:
    cid = eng.open_case("itemcase", PATIENT, **CM).id
    eng.add_item(cid, "referral", HOUSING, **CM)
    clock.advance(timedelta(days=14, seconds=1))
    assert eng.fire_due_timers() == 1
    assert eng.fire_due_timers() == 0
    item = eng.item(cid, "referral-1")
    assert item.data["attempts"] == 1  # the internal no_answer transition's `set`
    assert {t.name for t in item.timers} == {"decision_due"}  # no_answer fired, clock runs
    row = eng.history(cid)[-1]
    assert (row.event, row.item_id, row.outcome, row.timer, row.actor) == (
        "no_answer",
        "referral-1",
        "timer",
        "no_answer",
        "timer",
    )
    assert eng.verify_audit().ok


def test_item_clock_runs_across_its_states_and_closes_the_item(
    eng: Engine, clock: ManualClock
) -> None:
    cid = eng.open_case("itemcase", PATIENT, **CM).id
    eng.add_item(cid, "referral", HOUSING, **CM)
    clock.advance(timedelta(days=10))
    eng.send_item(cid, "referral-1", "waitlist", **PROVIDER)  # still in the clock's states
    assert [t.name for t in eng.item(cid, "referral-1").timers] == ["decision_due"]
    clock.advance(timedelta(days=21))
    assert eng.fire_due_timers() == 1
    item = eng.item(cid, "referral-1")
    assert (item.state, item.closed, item.timers) == ("declined", True, ())
    # the declined referral was the last one open: its case_event? none on this transition
    assert eng.get(cid).state == "linking"


def test_item_timer_of_a_state_the_item_left_is_cancelled(eng: Engine, clock: ManualClock) -> None:
    cid = eng.open_case("itemcase", PATIENT, **CM).id
    eng.add_item(cid, "referral", HOUSING, **CM)
    eng.send_item(cid, "referral-1", "waitlist", **PROVIDER)
    clock.advance(timedelta(days=15))
    assert eng.fire_due_timers() == 0  # no_answer was cancelled when it left `sent`
    assert eng.timers(status="pending").items[0].name == "decision_due"


def test_closing_the_case_cancels_its_items_timers(eng: Engine, clock: ManualClock) -> None:
    cid = eng.open_case("itemcase", PATIENT, **CM).id
    eng.add_item(cid, "referral", HOUSING, **CM)
    eng.send(cid, "close", **CM)
    clock.advance(timedelta(days=40))
    assert eng.fire_due_timers() == 0
    assert eng.item(cid, "referral-1").state == "sent"


def test_two_workers_fire_each_item_timer_once(database_url: str, clock: ManualClock) -> None:
    engines = [open_engine(database_url, clock) for _ in range(2)]
    try:
        cases = []
        for n in range(6):
            cid = engines[0].open_case("itemcase", {"patient_id": f"P-{n:04d}"}, **CM).id
            engines[0].add_item(cid, "referral", HOUSING, **CM)
            cases.append(cid)
        clock.advance(timedelta(days=14, seconds=1))
        fired: list[int] = []

        def work(e: Engine) -> None:
            fired.append(e.fire_due_timers())

        threads = [threading.Thread(target=work, args=(e,)) for e in engines]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(fired) == 6
        for cid in cases:
            rows = [h for h in engines[0].history(cid) if h.event == "no_answer"]
            assert len(rows) == 1
            assert engines[0].item(cid, "referral-1").data["attempts"] == 1
        assert engines[0].verify_audit().ok
    finally:
        for e in engines:
            e.close()


def test_crash_in_the_middle_of_an_item_change_leaves_nothing(
    eng: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.store.sqlalchemy_store import SqlAlchemyTransaction

    cid = eng.open_case("itemcase", PATIENT, **CM).id
    eng.add_item(cid, "referral", HOUSING, **CM)
    before = (eng.get(cid), eng.history(cid), eng.outbox(limit=50).items, eng.timers().items)

    def crash(self: StoreTransaction, items: object) -> None:
        raise RuntimeError("power cut")

    # the outbox rows are written after the history row, the item row and the timers
    monkeypatch.setattr(SqlAlchemyTransaction, "insert_outbox", crash)
    with pytest.raises(RuntimeError):
        eng.send_item(cid, "referral-1", "accepted", **PROVIDER)
    with pytest.raises(RuntimeError):
        eng.add_item(cid, "referral", HOUSING, **CM)
    monkeypatch.undo()
    after = (eng.get(cid), eng.history(cid), eng.outbox(limit=50).items, eng.timers().items)
    assert after == before
    assert len(eng.items(cid)) == 1
    assert eng.verify_audit().ok
