"""The worker with the real engine, on SQLite and PostgreSQL: backlog, downtime, catch-up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.clock import ManualClock
from engine.runtime.engine import Engine
from engine.scheduling.worker import TimerWorker

from ._engine import (
    BURST,
    BURST_TIMERS,
    CADENCE,
    CLERK,
    SteppingClock,
    firings,
    open_burst_cases,
    pending_count,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
WAIT = 60.0


def test_worker_drains_a_backlog_in_batches_and_fires_each_timer_once(database_url: str) -> None:
    clock = ManualClock(T0)
    with Engine.open(database_url, workflows=BURST, clock=clock) as engine:
        cases = open_burst_cases(engine, 30)
        clock.advance(hours=1)
        worker = TimerWorker(engine, batch_size=40)
        assert worker.drain() == 30 * BURST_TIMERS
        assert worker.drain() == 0
        counts = firings(engine, cases)
        assert len(counts) == 30 * BURST_TIMERS
        assert set(counts.values()) == {1}
        assert pending_count(engine) == 0


def test_drain_fires_only_what_is_due(database_url: str) -> None:
    clock = ManualClock(T0)
    with Engine.open(database_url, workflows=BURST, clock=clock) as engine:
        cases = open_burst_cases(engine, 3)
        clock.advance(minutes=3)  # t0 (1 min) .. t2 (3 min) are due
        worker = TimerWorker(engine, batch_size=2)
        assert worker.drain() == 3 * 3
        assert pending_count(engine) == 3 * (BURST_TIMERS - 3)
        assert {name for (_, name) in firings(engine, cases)} == {"t0", "t1", "t2"}


def test_timers_due_during_downtime_fire_oldest_first_once_with_lateness(
    database_url: str,
) -> None:
    clock = SteppingClock(T0)
    with Engine.open(database_url, workflows=BURST, clock=clock) as engine:
        early = open_burst_cases(engine, 2, prefix="A")
        clock.set(T0 + timedelta(minutes=30))
        late = open_burst_cases(engine, 2, prefix="B")
        # No worker runs for a day.
        clock.set(T0 + timedelta(days=1))
        worker = TimerWorker(engine, batch_size=3)
        assert worker.drain() == 4 * BURST_TIMERS
        rows = [row for cid in early + late for row in engine.history(cid) if row.timer is not None]
        assert len(rows) == 4 * BURST_TIMERS
        assert set(firings(engine, early + late).values()) == {1}
        for row in rows:
            assert row.lateness_seconds is not None
            assert row.lateness_seconds > 23 * 3600
        fired_in_order = sorted(rows, key=lambda r: r.recorded_at)
        due = [r.recorded_at - timedelta(seconds=r.lateness_seconds or 0) for r in fired_in_order]
        assert due == sorted(due)  # oldest first
        assert {r.case_id for r in fired_in_order[: 2 * BURST_TIMERS]} == set(early)


def test_recurring_timer_catches_up_once_then_returns_to_cadence(database_url: str) -> None:
    clock = ManualClock(T0)
    with Engine.open(database_url, workflows=CADENCE, clock=clock) as engine:
        case = engine.open_case("cadence", {"patient_id": "P-1"}, **CLERK).id
        engine.send(case, "monitor", **CLERK)
        worker = TimerWorker(engine)
        # Down from T0 to T0+5h30: hourly points 1h..5h and two-hourly 2h, 4h passed.
        clock.set(T0 + timedelta(hours=5, minutes=30))
        worker.drain()
        rows = [r for r in engine.history(case) if r.timer is not None]
        hourly = [r for r in rows if r.timer == "hourly"]
        two_hourly = [r for r in rows if r.timer == "two_hourly"]
        assert len(hourly) == 1  # catch_up: once
        assert hourly[0].payload.get("skipped_periods") == 4
        assert len(two_hourly) == 2  # catch_up: all (2h and 4h)
        pending = {t.name: t.due_at for t in engine.timers(case_id=case).items}
        assert pending == {
            "hourly": T0 + timedelta(hours=6),
            "two_hourly": T0 + timedelta(hours=6),
        }
        # Back on cadence: one firing per period, nothing skipped.
        clock.set(T0 + timedelta(hours=6))
        worker.drain()
        clock.set(T0 + timedelta(hours=7))
        worker.drain()
        hourly = [r for r in engine.history(case) if r.timer == "hourly"]
        assert len(hourly) == 3
        assert [r.payload.get("skipped_periods", 0) for r in hourly[1:]] == [0, 0]


def test_embedded_worker_fires_the_backlog_in_the_background(database_url: str) -> None:
    past = ManualClock(datetime.now(UTC) - timedelta(days=2))
    with Engine.open(database_url, workflows=BURST, clock=past) as seeder:
        cases = open_burst_cases(seeder, 12)
    with Engine.open(database_url, workflows=BURST) as engine:  # the system clock
        worker = TimerWorker(engine, batch_size=25, sweep_interval=timedelta(seconds=1))
        worker.start()
        try:
            assert worker.wait_for_drains(1, WAIT)
        finally:
            worker.stop()
        assert worker.stats.fired == 12 * BURST_TIMERS
        assert worker.stats.errors == 0
        counts = firings(engine, cases)
        assert len(counts) == 12 * BURST_TIMERS
        assert set(counts.values()) == {1}
        assert pending_count(engine) == 0
