"""Prometheus metrics, one registry per app (no global state between apps).

Counters of events applied and rejected through the API (labels: workflow,
event, reason; unknown names are folded into ``unknown`` so callers cannot
inflate label cardinality), and gauges read from ``engine.stats()`` at
scrape time: cases by state, timers pending/paused/overdue, the lag of the
most overdue pending timer, outbox pending/dead. A timer-lag histogram is
fed by :meth:`ApiMetrics.observe_timer_lag` when firings are observed in
this process (``casework serve`` runs the worker beside the API).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from engine.runtime.views import EngineStats

LAG_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400)


class _StatsCollector(Collector):
    def __init__(self, stats: Callable[[], EngineStats], now: Callable[[], datetime]) -> None:
        self._stats = stats
        self._now = now

    def collect(self) -> Iterator[Metric]:
        s = self._stats()
        cases = GaugeMetricFamily(
            "casework_cases", "Cases by workflow and state", labels=["workflow", "state"]
        )
        for (workflow, state), n in sorted(s.cases_by_state.items()):
            cases.add_metric([workflow, state], n)
        yield cases
        yield GaugeMetricFamily("casework_open_cases", "Cases not closed", value=s.open_cases)
        timers = GaugeMetricFamily("casework_timers", "Timers by status", labels=["status"])
        timers.add_metric(["pending"], s.pending_timers)
        timers.add_metric(["paused"], s.paused_timers)
        timers.add_metric(["overdue"], s.overdue_timers)
        yield timers
        yield GaugeMetricFamily(
            "casework_clocks_overdue",
            "Case clocks that fired (deadline passed, watchdog lapsed) and are not yet stopped",
            value=s.overdue_clocks,
        )
        yield GaugeMetricFamily(
            "casework_clock_lapses",
            "Case clock firings recorded (deadlines passed and watchdog lapses, all time)",
            value=s.clock_lapses,
        )
        lag = 0.0
        if s.oldest_pending_due is not None:
            lag = max(0.0, (self._now() - s.oldest_pending_due).total_seconds())
        yield GaugeMetricFamily(
            "casework_timer_oldest_overdue_seconds",
            "How far past due the oldest pending timer is (0 when none is late)",
            value=lag,
        )
        items = GaugeMetricFamily(
            "casework_items",
            "Work items by workflow, item type and item state",
            labels=["workflow", "type", "state"],
        )
        for (workflow, kind, state), n in sorted(s.items_by_state.items()):
            items.add_metric([workflow, kind, state], n)
        yield items
        yield GaugeMetricFamily(
            "casework_items_overdue",
            "Work items with a timer or clock of their own past due",
            value=s.overdue_items,
        )
        outbox = GaugeMetricFamily("casework_outbox", "Outbox items by status", labels=["status"])
        outbox.add_metric(["pending"], s.outbox_pending)
        outbox.add_metric(["dead"], s.outbox_dead)
        yield outbox


class _OwnershipCollector(Collector):
    """Caseloads by assignee and team (with the over-target flag), worklist overdue counts,
    time to first assignment: read from ``Engine.ownership_stats()`` at scrape time. Labels
    are staff and team ids, never case data."""

    def __init__(self, stats: Callable[[], dict[str, Any]]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        s = self._stats()
        for by in ("assignee", "team"):
            cases = GaugeMetricFamily(
                f"casework_caseload_{by}_cases", f"Open cases per {by}", labels=[by]
            )
            weighted = GaugeMetricFamily(
                f"casework_caseload_{by}_weighted", f"Weighted open cases per {by}", labels=[by]
            )
            load = GaugeMetricFamily(
                f"casework_caseload_{by}_load",
                f"Caseload per {by} as a fraction of the model's ratio (1: at target)",
                labels=[by],
            )
            over = GaugeMetricFamily(
                f"casework_caseload_{by}_over_target",
                f"1 when the {by}'s caseload is over the model's ratio",
                labels=[by],
            )
            for c in s["caseloads"][by]:
                cases.add_metric([c.holder], c.cases)
                weighted.add_metric([c.holder], c.weighted)
                if c.load is not None:
                    load.add_metric([c.holder], c.load)
                over.add_metric([c.holder], 1.0 if c.over_target else 0.0)
            yield from (cases, weighted, load, over)
            overdue = GaugeMetricFamily(
                f"casework_worklist_overdue_{by}",
                f"Overdue deadlines of open cases per {by}",
                labels=[by],
            )
            for holder, n in sorted(s[f"overdue_by_{by}"].items()):
                overdue.add_metric([holder], n)
            yield overdue
        yield GaugeMetricFamily(
            "casework_cases_assigned_open", "Open cases with an assignee", value=s["assigned_open"]
        )
        yield SummaryMetricFamily(
            "casework_time_to_first_assignment_seconds",
            "Time from opening a case to its first assignment (cases ever assigned)",
            count_value=s["first_assigned"],
            sum_value=s["first_assignment_seconds"],
        )


class ApiMetrics:
    """The metrics of one app."""

    def __init__(
        self,
        stats: Callable[[], EngineStats] | None = None,
        now: Callable[[], datetime] | None = None,
        ownership: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self._applied = Counter(
            "casework_events_applied",
            "Events applied through the API (@open: cases opened)",
            ["workflow", "event"],
            registry=self.registry,
        )
        self._rejected = Counter(
            "casework_events_rejected",
            "Events rejected through the API, by reason",
            ["workflow", "event", "reason"],
            registry=self.registry,
        )
        self._lag = Histogram(
            "casework_timer_lag_seconds",
            "Time from a timer's due instant to its firing, for firings seen by this process",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        if stats is not None and now is not None:
            self.registry.register(_StatsCollector(stats, now))
        if ownership is not None:
            self.registry.register(_OwnershipCollector(ownership))

    def applied(self, workflow: str, event: str) -> None:
        self._applied.labels(workflow, event).inc()

    def rejected(self, workflow: str, event: str, reason: str) -> None:
        self._rejected.labels(workflow, event, reason).inc()

    def observe_timer_lag(self, seconds: float) -> None:
        self._lag.observe(max(0.0, seconds))

    def render(self) -> bytes:
        return generate_latest(self.registry)
