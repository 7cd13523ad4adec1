"""``casework worker``: fire due timers and deliver the outbox until stopped.

Run one per machine on SQLite (one file, one writer at a time) or any number
against one PostgreSQL database: each timer fires exactly once, whichever
worker claims it. SIGTERM or SIGINT stops the worker after the batch in
progress; a worker killed outright loses nothing (its claim rolls back and
another worker, or this one restarted, fires the timer).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import timedelta

from engine.cli import _common as out
from engine.cli import delivery
from engine.errors import EngineError

log = logging.getLogger("engine.cli.worker")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def cmd_worker(args: argparse.Namespace) -> int:
    from engine.scheduling.worker import TimerWorker

    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s [%(process)d]: %(message)s",
        stream=sys.stderr,
    )
    if str(args.log_level) != "debug":
        # APScheduler logs every run of the sweep at INFO; keep its warnings.
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
    try:
        engine = out.open_engine(args, must_exist=False)
    except EngineError as exc:
        out.error(exc.message)
        return out.EXIT_FAILED
    try:
        try:
            delivery.configure(engine, args)
        except EngineError as exc:
            out.error(exc.message)
            return out.EXIT_FAILED
        worker = TimerWorker(
            engine,
            batch_size=args.batch_size,
            sweep_interval=timedelta(seconds=args.sweep_seconds),
            outbox=not args.no_outbox,
        )
        log.info("worker pid %d starting", os.getpid())
        worker.run_forever()
        stats = worker.stats
        log.info(
            "worker pid %d stopped: %d timer(s) fired, %d error(s)",
            os.getpid(),
            stats.fired,
            stats.errors,
        )
    finally:
        engine.close()
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "worker",
        help="fire due timers and deliver actions until stopped (SIGTERM/SIGINT)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    out.add_database_options(p)
    p.add_argument(
        "--batch-size",
        type=_positive_int,
        default=100,
        metavar="N",
        help="timers fired per batch (default %(default)s)",
    )
    p.add_argument(
        "--sweep-seconds",
        type=_positive_float,
        default=5.0,
        metavar="S",
        help="seconds between sweeps for timers armed elsewhere (default %(default)s)",
    )
    p.add_argument(
        "--no-outbox", action="store_true", help="fire timers only; do not deliver actions"
    )
    delivery.add_option(p)
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=cmd_worker)
