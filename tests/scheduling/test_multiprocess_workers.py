"""Several worker processes on one PostgreSQL database: each timer fires exactly once.

Spawned processes, a few thousand due timers, bounded in time (marked slow).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from engine.clock import ManualClock
from engine.runtime.engine import Engine

from ._engine import BURST, BURST_TIMERS, firings, open_burst_cases, pending_count
from .mp_worker import run_worker

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

CASES = 250  # x 10 timers = 2,500 due timers for three workers
KILL_CASES = 150  # 1,500 for the SIGKILL test (one worker does most of them)
LIMIT_S = 50.0


def _seed(url: str, cases: int) -> list[str]:
    past = ManualClock(datetime.now(UTC) - timedelta(days=1))
    with Engine.open(url, workflows=BURST, clock=past) as engine:
        return open_burst_cases(engine, cases)


def _spawn(ctx: Any, url: str, results: Any, *, until_empty: bool = True) -> Any:
    p = ctx.Process(
        target=run_worker, args=(url, str(BURST), 50, results, LIMIT_S, until_empty), daemon=True
    )
    p.start()
    return p


def _collect(results: Any, n: int) -> list[tuple[str, int, Any, int]]:
    out = []
    while len(out) < n:
        msg = results.get(timeout=LIMIT_S + 30)
        if msg[0] != "started":
            out.append(msg)
    return out


def test_three_worker_processes_fire_each_timer_exactly_once(postgres_url: str) -> None:
    cases = _seed(postgres_url, CASES)
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    procs = [_spawn(ctx, postgres_url, results) for _ in range(3)]
    reports = _collect(results, 3)
    for p in procs:
        p.join(timeout=30)
    assert [r for r in reports if r[0] == "error"] == []
    assert sum(int(r[2]) for r in reports) == CASES * BURST_TIMERS
    with Engine.open(postgres_url, workflows=BURST) as engine:
        counts = firings(engine, cases)
        assert len(counts) == CASES * BURST_TIMERS
        assert set(counts.values()) == {1}
        assert pending_count(engine) == 0


def test_sigkilled_worker_mid_burst_loses_and_doubles_nothing(postgres_url: str) -> None:
    cases = _seed(postgres_url, KILL_CASES)
    total = KILL_CASES * BURST_TIMERS
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    with Engine.open(postgres_url, workflows=BURST) as engine:
        victim = _spawn(ctx, postgres_url, results, until_empty=False)
        # Kill it once it has fired some timers but not all of them.
        end = time.monotonic() + LIMIT_S
        pending = pending_count(engine)
        while pending == total and time.monotonic() < end:
            time.sleep(0.02)
            pending = pending_count(engine)
        os.kill(victim.pid, signal.SIGKILL)
        victim.join(timeout=30)
        assert victim.exitcode == -signal.SIGKILL
        left = pending_count(engine)
        assert 0 < left < total, "the kill did not land mid-burst"
        survivor = _spawn(ctx, postgres_url, results)
        reports = _collect(results, 1)
        survivor.join(timeout=30)
        assert reports[0][0] == "done"
        assert int(reports[0][2]) == left  # the killed claim rolled back: still pending
        counts = firings(engine, cases)
        assert len(counts) == total
        assert set(counts.values()) == {1}
        assert pending_count(engine) == 0
