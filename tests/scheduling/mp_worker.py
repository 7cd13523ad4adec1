"""Entry points of the worker processes spawned by the multi-process tests and the bench."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from engine.runtime.engine import Engine
from engine.scheduling.worker import TimerWorker


def run_worker(
    url: str,
    workflows: str,
    batch_size: int,
    results: Any,
    deadline_s: float,
    until_empty: bool = True,
) -> None:
    """A `casework worker` equivalent: start, wait until no timer is pending, report.

    With ``until_empty`` False it runs until the deadline (or until killed).
    """
    try:
        with Engine.open(url, workflows=Path(workflows)) as engine:
            worker = TimerWorker(
                engine, batch_size=batch_size, sweep_interval=timedelta(milliseconds=200)
            )
            results.put(("started", os.getpid(), 0, 0))
            worker.start()
            end = time.monotonic() + deadline_s
            drains = 1
            try:
                while time.monotonic() < end:
                    worker.wait_for_drains(drains, timeout=1.0)
                    drains = worker.stats.drains + 1
                    if until_empty and engine.next_timer_due() is None:
                        break
            finally:
                worker.stop(wait=True)
            stats = worker.stats
            results.put(("done", os.getpid(), stats.fired, stats.errors))
    except BaseException as exc:  # report, don't hang the parent
        results.put(("error", os.getpid(), f"{type(exc).__name__}", 0))
