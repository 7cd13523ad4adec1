"""Timer metrics from the worker that runs beside the API in ``casework serve``.

:class:`LagObservingEngine` stands between the :class:`TimerWorker` and the
engine: before each batch it reads the due instants of the timers that are
due (ids and instants only), and after the engine fired ``n`` of them it
observes ``now - due`` for the ``n`` oldest, which are the ones the engine
fires first. With several workers on one database a batch may be fired
partly by another process; the histogram then describes this process's share
approximately. ``worker_collector`` exports the worker's own counters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from engine.store.records import TimerStatus

if TYPE_CHECKING:
    from engine.api.metrics import ApiMetrics
    from engine.clock import Clock
    from engine.runtime.engine import Engine


class LagObservingEngine:
    """The worker's view of the engine, feeding ``casework_timer_lag_seconds``."""

    def __init__(self, engine: Engine, metrics: ApiMetrics) -> None:
        self._engine = engine
        self._metrics = metrics

    @property
    def clock(self) -> Clock:
        return self._engine.clock

    def fire_due_timers(self, *, limit: int = 100) -> int:
        now = self._engine.clock.now()
        due = self._engine.timers(
            status=TimerStatus.PENDING, due_before=now, limit=max(limit, 500)
        ).items
        instants = sorted(t.due_at for t in due if t.due_at is not None)
        fired = self._engine.fire_due_timers(limit=limit)
        after = self._engine.clock.now()
        for due_at in instants[:fired]:
            self._metrics.observe_timer_lag((after - due_at).total_seconds())
        return fired

    def next_timer_due(self) -> datetime | None:
        return self._engine.next_timer_due()

    def deliver_outbox(self, *, limit: int = 100) -> int:
        return self._engine.deliver_outbox(limit=limit)


class _WorkerCollector(Collector):
    def __init__(self, stats: Callable[[], Any]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        s = self._stats()
        for name, doc, value in (
            ("casework_worker_drains", "Drain rounds of the in-process timer worker", s.drains),
            ("casework_worker_timers_fired", "Timers fired by the in-process worker", s.fired),
            (
                "casework_worker_actions_delivered",
                "Outbox deliveries attempted by the in-process worker",
                s.delivered,
            ),
            ("casework_worker_errors", "Errors in the in-process timer worker", s.errors),
        ):
            yield CounterMetricFamily(name, doc, value=value)


def watch_worker(metrics: ApiMetrics, stats: Callable[[], Any]) -> None:
    """Export the worker's counters (``TimerWorker.stats``) on /metrics."""
    metrics.registry.register(_WorkerCollector(stats))
