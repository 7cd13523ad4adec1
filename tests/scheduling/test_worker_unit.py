"""TimerWorker against an in-memory engine double: batching, errors, wake-ups, stopping."""

from __future__ import annotations

import logging
import os
import signal
import threading
from datetime import UTC, datetime, timedelta

import pytest

from engine.clock import ManualClock
from engine.errors import CaseNotFound
from engine.scheduling.worker import WAKEUP_JOB, TimerWorker

from ._fakes import FakeTimerEngine

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
WALL = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
WAIT = 30.0  # upper bound for background threads; never a timing assertion


def backlog(n: int) -> list[datetime]:
    return [START - timedelta(minutes=i + 1) for i in range(n)]


def test_drain_works_a_backlog_in_full_batches_until_a_short_one() -> None:
    engine = FakeTimerEngine(ManualClock(START), backlog(250))
    worker = TimerWorker(engine, batch_size=100)
    assert worker.drain() == 250
    assert engine.fire_calls == [100, 100, 50]
    assert engine.fired == sorted(engine.fired)  # oldest first
    assert engine.outbox_calls == 1
    assert worker.stats.fired == 250


def test_drain_of_an_exact_multiple_asks_once_more_and_stops() -> None:
    engine = FakeTimerEngine(ManualClock(START), backlog(200))
    assert TimerWorker(engine, batch_size=100).drain() == 200
    assert engine.fire_calls == [100, 100, 0]


def test_drain_leaves_timers_that_are_not_due_yet() -> None:
    clock = ManualClock(START)
    engine = FakeTimerEngine(clock, [START + timedelta(hours=1), START - timedelta(hours=1)])
    worker = TimerWorker(engine, batch_size=10)
    assert worker.drain() == 1
    clock.advance(hours=2)
    assert worker.drain() == 1
    assert engine.pending == []


def test_outbox_is_not_delivered_when_disabled() -> None:
    engine = FakeTimerEngine(ManualClock(START), backlog(3))
    TimerWorker(engine, outbox=False).drain()
    assert engine.outbox_calls == 0


def test_engine_errors_are_logged_without_data_and_do_not_escape(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = FakeTimerEngine(ManualClock(START), backlog(3))
    engine.raise_on_fire = RuntimeError("Jane Doe, DOB 1970-01-01")
    worker = TimerWorker(engine)
    with caplog.at_level(logging.DEBUG, logger="engine.scheduling.worker"):
        assert worker.drain() == 0
    assert worker.stats.errors == 1
    assert worker.stats.last_error == "RuntimeError"
    assert "Jane" not in caplog.text
    assert "RuntimeError" in caplog.text


def test_engine_error_messages_with_ids_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    engine = FakeTimerEngine(ManualClock(START), backlog(1))
    engine.raise_on_fire = CaseNotFound("c-123")
    worker = TimerWorker(engine)
    with caplog.at_level(logging.ERROR, logger="engine.scheduling.worker"):
        worker.drain()
    assert "c-123" in caplog.text


def test_worker_keeps_working_after_an_error() -> None:
    engine = FakeTimerEngine(ManualClock(START), backlog(5))
    worker = TimerWorker(engine)
    engine.raise_on_fire = RuntimeError("boom")
    worker.drain()
    engine.raise_on_fire = None
    assert worker.drain() == 5


def test_invalid_settings_are_rejected() -> None:
    engine = FakeTimerEngine(ManualClock(START))
    with pytest.raises(ValueError, match="batch_size"):
        TimerWorker(engine, batch_size=0)
    with pytest.raises(ValueError, match="sweep_interval"):
        TimerWorker(engine, sweep_interval=timedelta(0))


def test_start_drains_at_once_and_places_the_wakeup_at_the_next_due_instant() -> None:
    clock = ManualClock(START)
    later = START + timedelta(days=2, hours=3)
    engine = FakeTimerEngine(clock, [*backlog(5), later])
    worker = TimerWorker(engine, sweep_interval=timedelta(hours=1), wall_clock=lambda: WALL)
    worker.start()
    try:
        # The wake-up is placed by the drain that the first sweep ran.
        assert worker.wait_for_drains(1, WAIT)
        job = worker.wakeup_job()
        assert job is not None
        assert job.next_run_time == WALL + (later - START)
        assert job.misfire_grace_time is None
        assert job.coalesce is True
        assert job.max_instances == 1
        assert len(engine.fired) == 5
    finally:
        worker.stop()
    assert not worker.running


def test_a_due_timer_that_could_not_be_fired_gets_a_retry_wakeup_not_a_tight_loop() -> None:
    clock = ManualClock(START)
    engine = FakeTimerEngine(clock, backlog(1))
    engine.raise_on_fire = RuntimeError("locked elsewhere")
    worker = TimerWorker(engine, sweep_interval=timedelta(hours=1), wall_clock=lambda: WALL)
    worker.start()
    try:
        assert worker.wait_for_drains(1, WAIT)
        job = worker.wakeup_job()
        assert job is not None
        assert job.next_run_time == WALL + timedelta(seconds=1)
    finally:
        worker.stop()


def test_each_wakeup_is_a_new_job_and_replaces_the_previous_one() -> None:
    clock = ManualClock(START)
    engine = FakeTimerEngine(clock, [START + timedelta(days=1)])
    worker = TimerWorker(engine, sweep_interval=timedelta(hours=1), wall_clock=lambda: WALL)
    worker.start()
    try:
        assert worker.wait_for_drains(1, WAIT)
        first = worker.wakeup_job()
        worker.poke()  # same due instant: kept
        assert worker.wakeup_job().id == first.id
        engine.pending.insert(0, START + timedelta(hours=2))
        worker.poke()  # earlier due instant: a new job replaces the old one
        second = worker.wakeup_job()
        assert second.id != first.id
        assert second.next_run_time == WALL + timedelta(hours=2)
        wakeups = [j for j in worker._scheduler.get_jobs() if j.name == WAKEUP_JOB]  # type: ignore[union-attr]
        assert [j.id for j in wakeups] == [second.id]
    finally:
        worker.stop()


def test_drain_goes_round_again_while_timers_keep_coming_due() -> None:
    clock = ManualClock(START)
    engine = FakeTimerEngine(clock, [*backlog(3), START + timedelta(seconds=1)])
    original = engine.fire_due_timers

    def fire(*, limit: int = 100) -> int:
        n = original(limit=limit)
        clock.advance(seconds=2)  # firing takes time: the next timer comes due meanwhile
        return n

    engine.fire_due_timers = fire  # type: ignore[method-assign]
    worker = TimerWorker(engine, batch_size=10)
    assert worker.drain() == 4
    assert engine.pending == []


def test_wakeup_fires_a_timer_before_the_next_sweep() -> None:
    clock = ManualClock(START)
    engine = FakeTimerEngine(clock, [START + timedelta(milliseconds=200)])
    fired = threading.Event()
    original = engine.fire_due_timers

    def fire(*, limit: int = 100) -> int:
        clock.set(max(clock.now(), START + timedelta(milliseconds=200)))
        n = original(limit=limit)
        if n:
            fired.set()
        return n

    # The first sweep sees nothing due; only the wake-up can fire it (sweeps are an hour apart).
    calls = {"n": 0}

    def fire_after_first(*, limit: int = 100) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            return original(limit=limit)
        return fire(limit=limit)

    engine.fire_due_timers = fire_after_first  # type: ignore[method-assign]
    worker = TimerWorker(engine, sweep_interval=timedelta(hours=1))
    worker.start()
    try:
        assert fired.wait(WAIT)
    finally:
        worker.stop()
    assert len(engine.fired) == 1


def test_stop_is_idempotent_and_stops_draining() -> None:
    engine = FakeTimerEngine(ManualClock(START))
    worker = TimerWorker(engine)
    worker.stop()
    worker.start()
    worker.stop()
    worker.stop()
    assert worker.wait_stopped(0)
    assert not worker.running


def test_starting_twice_is_an_error() -> None:
    worker = TimerWorker(FakeTimerEngine(ManualClock(START)), sweep_interval=timedelta(hours=1))
    worker.start()
    try:
        with pytest.raises(RuntimeError, match="already started"):
            worker.start()
    finally:
        worker.stop()


def test_run_forever_stops_cleanly_on_sigterm() -> None:
    engine = FakeTimerEngine(ManualClock(START), backlog(3))
    worker = TimerWorker(engine, sweep_interval=timedelta(hours=1))
    before = signal.getsignal(signal.SIGTERM)

    def kill_when_working() -> None:
        if engine.called.wait(WAIT):
            os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=kill_when_working)
    killer.start()
    worker.run_forever()
    killer.join()
    assert worker.wait_stopped(0)
    assert signal.getsignal(signal.SIGTERM) is before
    assert len(engine.fired) == 3
