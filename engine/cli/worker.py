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
from collections.abc import Mapping
from datetime import timedelta

from engine.cli import _common as out
from engine.cli import delivery
from engine.cli.config import (
    LOG_FORMATS,
    LOG_LEVELS,
    Settings,
    add_config_option,
    resolve,
)
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


def worker_settings(args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    """``worker``'s settings: its options over the environment over ``--config``'s file."""
    settings = resolve(
        {
            "database_url": args.database_url,
            "workflows": args.workflows,
            "log_level": args.log_level,
            "log_format": args.log_format,
            "worker_batch_size": args.batch_size,
            "worker_sweep_seconds": args.sweep_seconds,
            "worker_outbox": None if args.no_outbox is None else not args.no_outbox,
        },
        env,
        args.config,
    )
    args.database_url = settings.database_url
    args.workflows = list(settings.workflows) or None
    if settings.delivery and getattr(args, "delivery_config", None) is None:
        args.delivery_config = settings.config_file  # its [delivery] table
    return settings


def _configure_logging(settings: Settings) -> None:
    from engine.api.log_format import formatter

    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(formatter("json"))
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(process)d]: %(message)s")
        )
    level = getattr(logging, settings.log_level.upper(), logging.INFO)
    logging.basicConfig(level=level, handlers=[handler], force=True)
    if settings.log_level != "debug":
        # APScheduler logs every run of the sweep at INFO; keep its warnings.
        logging.getLogger("apscheduler").setLevel(logging.WARNING)


def cmd_worker(args: argparse.Namespace) -> int:
    from engine.scheduling.worker import TimerWorker

    try:
        settings = worker_settings(args, os.environ)
    except EngineError as exc:
        out.error(exc.message)
        return out.EXIT_FAILED
    _configure_logging(settings)
    try:
        engine = out.open_engine(args, must_exist=False)
    except EngineError as exc:
        out.error(exc.message)
        return out.EXIT_FAILED
    try:
        try:
            # --delivery-config FILE, else the configuration file's [delivery] table
            delivery.configure(engine, args)
        except EngineError as exc:
            out.error(exc.message)
            return out.EXIT_FAILED
        worker = TimerWorker(
            engine,
            batch_size=settings.worker_batch_size,
            sweep_interval=timedelta(seconds=settings.worker_sweep_seconds),
            outbox=settings.worker_outbox,
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
    except EngineError as exc:
        out.error(exc.message)
        return out.EXIT_FAILED
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
    add_config_option(p)
    p.add_argument(
        "--batch-size",
        type=_positive_int,
        default=None,
        metavar="N",
        help="timers fired per batch (default 100)",
    )
    p.add_argument(
        "--sweep-seconds",
        type=_positive_float,
        default=None,
        metavar="S",
        help="seconds between sweeps for timers armed elsewhere (default 5)",
    )
    p.add_argument(
        "--no-outbox",
        action="store_const",
        const=True,
        default=None,
        help="fire timers only; do not deliver actions",
    )
    delivery.add_option(p)
    p.add_argument("--log-level", default=None, choices=LOG_LEVELS, help="default info")
    p.add_argument("--log-format", default=None, choices=LOG_FORMATS, help="default json")
    p.set_defaults(func=cmd_worker, database_url=None)
