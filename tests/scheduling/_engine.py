"""Helpers for the scheduling tests that run the real engine."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from engine.clock import ManualClock
from engine.runtime.engine import Engine

FIXTURES = Path(__file__).parent / "fixtures"
BURST = FIXTURES / "burst.yaml"
CADENCE = FIXTURES / "cadence.yaml"
DEADLINES = FIXTURES / "deadlines.yaml"
CLERK = {"actor": "clerk-1", "roles": ["clerk"]}
BURST_TIMERS = 10  # timers per burst case, due 1..10 minutes after opening


class SteppingClock(ManualClock):
    """A manual clock that moves one millisecond on every reading (orders firings)."""

    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self._step_lock = threading.Lock()

    def now(self) -> datetime:
        with self._step_lock:
            value = super().now()
            self.set(value + timedelta(milliseconds=1))
            return value


def open_burst_cases(engine: Engine, cases: int, *, prefix: str = "P") -> list[str]:
    return [
        engine.open_case("burst", {"patient_id": f"{prefix}-{i:05d}"}, **CLERK).id
        for i in range(cases)
    ]


def firings(engine: Engine, case_ids: list[str]) -> Counter[tuple[str, str]]:
    """How many history rows each (case, timer) has."""
    counts: Counter[tuple[str, str]] = Counter()
    for cid in case_ids:
        for row in engine.history(cid):
            if row.timer is not None:
                counts[(cid, row.timer)] += 1
    return counts


def pending_count(engine: Engine) -> int:
    return int(engine.stats().pending_timers)
