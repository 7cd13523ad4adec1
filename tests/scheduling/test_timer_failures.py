"""One case cannot stop every timer (hardening, finding 2).

A deadline beyond the calendar's range is refused where it enters, as a
PayloadInvalid naming the field; a firing that raises is recorded on its timer
and postponed with backoff while the other cases' deadlines keep firing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from engine.clock import ManualClock
from engine.errors import PayloadInvalid
from engine.runtime import firing
from engine.runtime.engine import Engine

from ._engine import CLERK, DEADLINES

START = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


@pytest.fixture
def deadline_engine(database_url: str) -> Iterator[Engine]:
    eng = Engine.open(database_url, workflows=DEADLINES, clock=ManualClock(START))
    yield eng
    eng.close()


def test_a_deadline_beyond_the_calendar_is_refused_with_the_field(deadline_engine: Engine) -> None:
    with pytest.raises(PayloadInvalid) as info:
        deadline_engine.open_case(
            "deadlines", {"patient_id": "P-1", "discharge_date": "9999-12-31"}, **CLERK
        )
    assert info.value.json_path == "$.discharge_date"
    assert "calendar's range" in info.value.problem
    assert deadline_engine.find().items == ()


def test_a_failing_firing_is_postponed_and_others_still_fire(
    deadline_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    eng = deadline_engine
    bad = eng.open_case("deadlines", {"patient_id": "P-BAD"}, **CLERK)
    good = eng.open_case("deadlines", {"patient_id": "P-GOOD"}, **CLERK)
    real_fire = firing._fire

    def fire(tx, compiled, case, timer, now):  # type: ignore[no-untyped-def]
        if case.id == bad.id:
            raise RuntimeError("PHI-SENTINEL-7731 in a message")
        return real_fire(tx, compiled, case, timer, now)

    monkeypatch.setattr(firing, "_fire", fire)
    clock = eng.clock
    assert isinstance(clock, ManualClock)
    clock.set(START + timedelta(days=3))
    eng.fire_due_timers(limit=100)
    good_history = [h.timer for h in eng.history(good.id) if h.timer]
    assert "one_day" in good_history
    assert "two_business_days" in good_history
    assert [h.timer for h in eng.history(bad.id) if h.timer] == []
    failed = [t for t in eng.timers(case_id=bad.id).items if t.attempts]
    assert failed, "the failing timers record their attempts"
    assert all(t.last_error == "RuntimeError" for t in failed)
    assert all(t.due_at is not None and t.due_at > clock.now() for t in failed)
    first_retry = min(t.due_at for t in failed if t.due_at)
    # retried with backoff, and fires once the fault is gone
    monkeypatch.setattr(firing, "_fire", real_fire)
    clock.set(first_retry + timedelta(seconds=1))
    eng.fire_due_timers(limit=100)
    assert [h.timer for h in eng.history(bad.id) if h.timer]


def test_backoff_grows_with_attempts(
    deadline_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    eng = deadline_engine
    case = eng.open_case("deadlines", {"patient_id": "P-BAD"}, **CLERK)

    def boom(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(firing, "_fire", boom)
    clock = eng.clock
    assert isinstance(clock, ManualClock)
    clock.set(START + timedelta(days=1, minutes=1))
    gaps = []
    for _ in range(4):
        eng.fire_due_timers(limit=1)
        timer = next(t for t in eng.timers(case_id=case.id).items if t.name == "one_day")
        assert timer.due_at is not None
        gaps.append(timer.due_at - clock.now())
        clock.set(timer.due_at + timedelta(seconds=1))
    assert gaps == sorted(gaps)
    assert gaps[-1] > gaps[0]
    assert timer.attempts == 4
