"""An in-memory stand-in for the engine's timer interface (worker unit tests)."""

from __future__ import annotations

import threading
from datetime import datetime

from engine.clock import ManualClock


class FakeTimerEngine:
    """Due instants in a list; fires the oldest due first, like the engine."""

    def __init__(self, clock: ManualClock, due: list[datetime] | None = None) -> None:
        self.clock = clock
        self.pending: list[datetime] = sorted(due or [])
        self.fired: list[datetime] = []
        self.fire_calls: list[int] = []  # how many each call fired
        self.outbox_calls = 0
        self.raise_on_fire: BaseException | None = None
        self.called = threading.Event()
        self._lock = threading.Lock()

    def fire_due_timers(self, *, limit: int = 100) -> int:
        self.called.set()
        if self.raise_on_fire is not None:
            raise self.raise_on_fire
        with self._lock:
            now = self.clock.now()
            due = [d for d in self.pending if d <= now][:limit]
            for d in due:
                self.pending.remove(d)
                self.fired.append(d)
            self.fire_calls.append(len(due))
            return len(due)

    def next_timer_due(self) -> datetime | None:
        with self._lock:
            return self.pending[0] if self.pending else None

    def deliver_outbox(self, *, limit: int = 100) -> int:
        self.outbox_calls += 1
        return 0
