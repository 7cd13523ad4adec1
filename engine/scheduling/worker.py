"""The timer worker: wakes up with APScheduler and lets the engine fire due timers.

The timers table is the only source of truth. APScheduler (3.x) is used only
as an in-process alarm clock, with its default in-memory job store, holding
two jobs of this process:

* ``casework-sweep`` — an :class:`~apscheduler.triggers.interval.IntervalTrigger`
  every ``sweep_interval``: picks up timers armed by other processes and
  anything that came due while no worker ran;
* ``casework-wakeup-<n>`` — a one-shot
  :class:`~apscheduler.triggers.date.DateTrigger` at
  :meth:`Engine.next_timer_due`, replaced whenever that instant changes.

Both call :meth:`TimerWorker.drain`, which asks the engine to fire due timers
in batches (``fire_due_timers(limit=batch_size)`` again while a batch comes
back full; the engine fires oldest first, so a backlog is worked through and
newer timers are reached without starving), then delivers the outbox.
Claiming and firing are the engine's job (one transaction per timer, ``FOR
UPDATE SKIP LOCKED`` on PostgreSQL), so any number of workers may run against
one PostgreSQL database and a crashed worker loses nothing: its claims roll
back with its connection.

Timers are never APScheduler jobs and no job store is shared: APScheduler's
own documentation says job stores must never be shared between schedulers,
and its default one-second ``misfire_grace_time`` would drop a one-shot job
that came due during downtime. Both our jobs use ``misfire_grace_time=None``
and ``coalesce=True``; the wake-up has ``max_instances=1``, the sweep 2 (a
sweep arriving during a long drain returns at once after asking the running
drain for one more round, so no tick is lost and none piles up).

Exceptions from the engine are logged with their type and, for
:class:`~engine.errors.EngineError`, their id-only message; they never stop
the worker (the next sweep retries). Other exception messages are not logged:
driver errors can echo SQL parameters, which may be case data.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any, Protocol

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from engine.clock import Clock
from engine.errors import EngineError

__all__ = ["TimerEngine", "TimerWorker", "WorkerStats"]

log = logging.getLogger(__name__)

SWEEP_JOB = "casework-sweep"
WAKEUP_JOB = "casework-wakeup"  # job ids are WAKEUP_JOB-<n>
_RETRY = timedelta(seconds=1)  # retry wake-up for a due timer that could not be fired


class TimerEngine(Protocol):
    """What the worker needs from :class:`engine.Engine`."""

    @property
    def clock(self) -> Clock: ...

    def fire_due_timers(self, *, limit: int = 100) -> int: ...

    def next_timer_due(self) -> datetime | None: ...

    def deliver_outbox(self, *, limit: int = 100) -> int: ...


@dataclass(frozen=True, slots=True)
class WorkerStats:
    """Counters since the worker was created (for logs and metrics)."""

    drains: int
    fired: int
    delivered: int
    errors: int
    last_drain_at: datetime | None
    last_error: str | None  # exception type name (and id-only engine message)
    wakeup_at: datetime | None  # wall-clock instant of the pending wake-up, if any


def _describe(exc: BaseException) -> str:
    if isinstance(exc, EngineError):
        return f"{type(exc).__name__} [{exc.code}]: {exc.message}"
    return type(exc).__name__


class TimerWorker:
    """Fires due timers of ``engine`` from a background thread.

    ``start()`` runs it in the background (embedding in a host process or in
    ``casework serve``); ``run_forever()`` blocks until SIGTERM/SIGINT (the
    ``casework worker`` command); ``drain()`` does one synchronous round (tests,
    the simulator, a cron job).
    """

    def __init__(
        self,
        engine: TimerEngine,
        *,
        batch_size: int = 100,
        sweep_interval: timedelta = timedelta(seconds=5),
        outbox: bool = True,
        wall_clock: Callable[[], datetime] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if sweep_interval <= timedelta(0):
            raise ValueError("sweep_interval must be positive")
        self.engine = engine
        self.batch_size = batch_size
        self.sweep_interval = sweep_interval
        self.outbox = outbox
        # APScheduler runs on the machine's clock; the engine's clock may be a
        # ManualClock. Wake-ups are placed at (wall now + (due - engine now)).
        self._wall = wall_clock or (lambda: datetime.now(UTC))
        self._scheduler: BackgroundScheduler | None = None
        self._drain_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._again = False
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._wakeup_due: datetime | None = None  # engine-time due instant of the wake-up
        self._wakeup_job_id: str | None = None
        self._wakeup_seq = 0
        self._wakeup_at: datetime | None = None
        self._drains = 0
        self._fired = 0
        self._delivered = 0
        self._errors = 0
        self._last_drain_at: datetime | None = None
        self._last_error: str | None = None
        self._completed = 0  # drain() calls that finished, wake-up placed
        self._completed_cond = threading.Condition()

    # -- lifecycle ------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._scheduler is not None and not self._stopping.is_set()

    def start(self) -> None:
        """Start in the background and drain once right away (returns immediately)."""
        if self._scheduler is not None:
            raise RuntimeError("worker already started")
        self._stopping.clear()
        self._stopped.clear()
        scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max_workers=2)},
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
            daemon=True,
        )
        scheduler.add_job(
            self._run_job,
            IntervalTrigger(seconds=self.sweep_interval.total_seconds(), timezone=UTC),
            id=SWEEP_JOB,
            name=SWEEP_JOB,
            # First sweep immediately: catch up on whatever came due during downtime.
            next_run_time=datetime.now(UTC),
            misfire_grace_time=None,
            coalesce=True,
            # A sweep that comes due during a long drain runs, finds the drain
            # lock taken, asks the running drain for one more round and returns
            # (rather than APScheduler logging a "skipped" warning every tick).
            max_instances=2,
            replace_existing=True,
        )
        self._scheduler = scheduler
        scheduler.start()
        log.info(
            "timer worker started (batch %d, sweep every %ss)",
            self.batch_size,
            self.sweep_interval.total_seconds(),
        )

    def stop(self, wait: bool = True) -> None:
        """Stop; with ``wait`` return only after a drain in progress has finished."""
        self._stopping.set()
        scheduler = self._scheduler
        if scheduler is None:
            self._stopped.set()
            return
        self._scheduler = None
        try:
            scheduler.shutdown(wait=wait)
        except Exception as exc:  # already stopped
            log.debug("scheduler shutdown: %s", type(exc).__name__)
        self._stopped.set()
        log.info("timer worker stopped (fired %d timers in %d drains)", self._fired, self._drains)

    def run_forever(self, *, install_signal_handlers: bool = True) -> None:
        """Run until :meth:`stop` or SIGTERM/SIGINT; then stop cleanly (finishing the drain)."""
        previous: dict[signal.Signals, Any] = {}
        if install_signal_handlers and threading.current_thread() is threading.main_thread():

            def _handler(signum: int, frame: FrameType | None) -> None:
                log.info("timer worker got signal %d, stopping", signum)
                self._stopping.set()

            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, _handler)
        try:
            self.start()
            while not self._stopping.wait(timeout=1.0):
                pass
        finally:
            self.stop(wait=True)
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def __enter__(self) -> TimerWorker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop(wait=True)

    # -- the work ---------------------------------------------------------------------

    def drain(self) -> int:
        """Fire due timers in batches until a batch comes back short, then deliver the outbox.

        Rounds repeat while timers keep coming due (a round fired some and the
        next pending timer is already due). Returns how many timers were
        fired. If another thread is draining, this call asks it for one more
        round and returns 0 at once. Never raises for engine errors: they are
        logged (ids only) and counted.
        """
        if not self._drain_lock.acquire(blocking=False):
            with self._state_lock:
                self._again = True
            return 0
        fired = 0
        try:
            while True:
                with self._state_lock:
                    self._again = False
                n = self._drain_round()
                fired += n
                if self._stopping.is_set():
                    break
                with self._state_lock:
                    again = self._again
                if again or (n and self._something_due()):
                    continue
                break
        finally:
            self._drain_lock.release()
        self._schedule_wakeup()
        with self._completed_cond:
            self._completed += 1
            self._completed_cond.notify_all()
        return fired

    def _something_due(self) -> bool:
        try:
            due = self.engine.next_timer_due()
            return due is not None and due <= self.engine.clock.now()
        except Exception as exc:
            self._record_error(exc)
            return False

    def wait_for_drains(self, count: int = 1, timeout: float | None = None) -> bool:
        """Block until ``count`` drains have completed since creation (False on timeout)."""
        with self._completed_cond:
            return self._completed_cond.wait_for(lambda: self._completed >= count, timeout)

    def _drain_round(self) -> int:
        fired = 0
        delivered = 0
        try:
            while not self._stopping.is_set():
                n = self.engine.fire_due_timers(limit=self.batch_size)
                fired += n
                if n < self.batch_size:
                    break
            if self.outbox:
                while not self._stopping.is_set():
                    m = self.engine.deliver_outbox(limit=self.batch_size)
                    delivered += m
                    if m < self.batch_size:
                        break
        except Exception as exc:
            self._record_error(exc)
        with self._state_lock:
            self._drains += 1
            self._fired += fired
            self._delivered += delivered
            self._last_drain_at = self._wall()
        if fired:
            log.info("fired %d timer(s)", fired)
        return fired

    def _record_error(self, exc: BaseException) -> None:
        what = _describe(exc)
        with self._state_lock:
            self._errors += 1
            self._last_error = what
        log.error("timer worker: drain failed (%s); retrying at the next sweep", what)

    def _run_job(self) -> None:
        # Called by APScheduler's executor: nothing may escape.
        try:
            self.drain()
        except Exception as exc:
            self._record_error(exc)

    def _schedule_wakeup(self) -> None:
        """Place the one-shot wake-up at the engine's next due instant.

        A pending timer that is already due but was not fired (its case is
        locked by another worker, or firing it fails) gets a retry wake-up a
        moment later (at most a second, never a tight loop). Each wake-up is a
        new job id: APScheduler counts running instances per job id, and a
        wake-up placed from inside the running wake-up job under the same id
        could be skipped (and, being one-shot, dropped) if it came due before
        that instance had finished.
        """
        scheduler = self._scheduler
        if scheduler is None or self._stopping.is_set():
            return
        try:
            due = self.engine.next_timer_due()
            engine_now = self.engine.clock.now()
        except Exception as exc:
            self._record_error(exc)
            return
        if due is None:
            self._remove_wakeup(scheduler)
            return
        if due <= engine_now:
            run_at = self._wall() + min(self.sweep_interval, _RETRY)
        else:
            run_at = self._wall() + (due - engine_now)
        with self._state_lock:
            previous = self._wakeup_job_id
            waiting = due > engine_now and due == self._wakeup_due and previous is not None
            if waiting and scheduler.get_job(previous) is not None:
                return  # already waiting for this instant
            self._wakeup_seq += 1
            job_id = f"{WAKEUP_JOB}-{self._wakeup_seq}"
        try:
            scheduler.add_job(
                self._run_job,
                DateTrigger(run_date=run_at, timezone=UTC),
                id=job_id,
                name=WAKEUP_JOB,
                misfire_grace_time=None,
                coalesce=True,
                max_instances=1,
                replace_existing=True,
            )
        except Exception as exc:  # scheduler shutting down
            log.debug("wake-up not scheduled: %s", type(exc).__name__)
            return
        with self._state_lock:
            self._wakeup_job_id = job_id
            self._wakeup_due = due
            self._wakeup_at = run_at
        if previous is not None and previous != job_id:
            self._remove_job(scheduler, previous)

    def _remove_wakeup(self, scheduler: BackgroundScheduler) -> None:
        with self._state_lock:
            previous = self._wakeup_job_id
            self._wakeup_job_id = None
            self._wakeup_due = None
            self._wakeup_at = None
        if previous is not None:
            self._remove_job(scheduler, previous)

    @staticmethod
    def _remove_job(scheduler: BackgroundScheduler, job_id: str) -> None:
        try:
            scheduler.remove_job(job_id)
        except Exception:  # JobLookupError: it ran (one-shot jobs leave the store) or is gone
            log.debug("wake-up job already gone")

    def wakeup_job(self) -> Any:
        """The pending APScheduler wake-up job, or None (for tests and diagnostics)."""
        scheduler = self._scheduler
        job_id = self._wakeup_job_id
        if scheduler is None or job_id is None:
            return None
        return scheduler.get_job(job_id)

    def poke(self) -> None:
        """Re-read the next due instant now (call after arming a timer in this process)."""
        self._schedule_wakeup()

    def wait_stopped(self, timeout: float | None = None) -> bool:
        return self._stopped.wait(timeout)

    @property
    def stats(self) -> WorkerStats:
        with self._state_lock:
            return WorkerStats(
                drains=self._drains,
                fired=self._fired,
                delivered=self._delivered,
                errors=self._errors,
                last_drain_at=self._last_drain_at,
                last_error=self._last_error,
                wakeup_at=self._wakeup_at,
            )
