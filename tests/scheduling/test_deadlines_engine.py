"""Local deadlines armed and fired by the engine: holidays, DST changes, `at` dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from engine.clock import ManualClock
from engine.runtime.engine import Engine
from engine.scheduling.worker import TimerWorker

from ._engine import CLERK, DEADLINES

NY = ZoneInfo("America/New_York")


def _local(y: int, mo: int, d: int, h: int = 9, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=NY).astimezone(UTC)


def _armed(engine: Engine, case_id: str) -> dict[str, datetime]:
    return {t.name: t.due_at for t in engine.timers(case_id=case_id).items if t.due_at}


@pytest.mark.parametrize(
    ("opened", "expected"),
    [
        # Spring forward (8 March): same 09:00 wall time, 23-hour day.
        (
            _local(2026, 3, 7),
            {
                "one_day": _local(2026, 3, 8),
                "one_week": _local(2026, 3, 14),
                "two_weeks": _local(2026, 3, 21),
                "two_business_days": _local(2026, 3, 10),
            },
        ),
        # Fall back (1 November): same 09:00 wall time, 25-hour day.
        (
            _local(2026, 10, 31),
            {
                "one_day": _local(2026, 11, 1),
                "one_week": _local(2026, 11, 7),
                "two_weeks": _local(2026, 11, 14),
                # Mon 2, then Wed 4 November: Election Day (3rd) is a New York holiday.
                "two_business_days": _local(2026, 11, 4),
            },
        ),
        # Thursday before Independence Day (observed Friday 3 July) and the weekend.
        (
            _local(2026, 7, 2, 10),
            {
                "one_day": _local(2026, 7, 3, 10),
                "one_week": _local(2026, 7, 9, 10),
                "two_weeks": _local(2026, 7, 16, 10),
                "two_business_days": _local(2026, 7, 7, 10),
            },
        ),
        # The workflow's extra holiday (24 Dec), Christmas, then the weekend.
        (
            _local(2026, 12, 23, 16, 30),
            {
                "one_day": _local(2026, 12, 24, 16, 30),
                "one_week": _local(2026, 12, 30, 16, 30),
                "two_weeks": _local(2027, 1, 6, 16, 30),
                "two_business_days": _local(2026, 12, 29, 16, 30),
            },
        ),
    ],
)
def test_deadlines_keep_local_wall_time_and_skip_holidays(
    database_url: str, opened: datetime, expected: dict[str, datetime]
) -> None:
    clock = ManualClock(opened)
    with Engine.open(database_url, workflows=DEADLINES, clock=clock) as engine:
        case = engine.open_case("deadlines", {"patient_id": "P-1"}, **CLERK).id
        assert _armed(engine, case) == expected
        worker = TimerWorker(engine)
        # Fire each at its due instant: no lateness, and in local-time order.
        for name, due in sorted(expected.items(), key=lambda kv: kv[1]):
            clock.set(due - timedelta(seconds=1))
            worker.drain()
            assert name in _armed(engine, case)
            clock.set(due)
            worker.drain()
            assert name not in _armed(engine, case)
        rows = {r.timer: r for r in engine.history(case) if r.timer}
        assert set(rows) == set(expected)
        for name, row in rows.items():
            assert row.recorded_at == expected[name]
            assert row.lateness_seconds == 0
            assert row.recorded_at.astimezone(NY).date().weekday() < 5 or name != (
                "two_business_days"
            )


def test_at_timer_uses_the_case_date_at_local_midnight_plus_offset(database_url: str) -> None:
    clock = ManualClock(_local(2026, 3, 2))
    with Engine.open(database_url, workflows=DEADLINES, clock=clock) as engine:
        with_date = engine.open_case(
            "deadlines", {"patient_id": "P-1", "discharge_date": "2026-03-05"}, **CLERK
        ).id
        without = engine.open_case("deadlines", {"patient_id": "P-2"}, **CLERK).id
        # 5 March + P7D = 12 March 00:00 EDT (after the change on 8 March).
        assert _armed(engine, with_date)["after_discharge"] == datetime(
            2026, 3, 12, 4, 0, tzinfo=UTC
        )
        assert "after_discharge" not in _armed(engine, without)
        assert (
            date(2026, 3, 12) == _armed(engine, with_date)["after_discharge"].astimezone(NY).date()
        )
