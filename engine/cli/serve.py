"""``casework serve``: the HTTP API and the timer worker in one process.

On a fresh machine ``casework serve`` creates ``casework.db`` (SQLite) in the
current directory, registers the bundled workflows, writes
``casework-clients.json`` next to the database with one admin token (printed
once on stderr, stored hashed), starts the timer worker and serves on
127.0.0.1:8000. Several ``serve`` and ``worker`` processes may share one
PostgreSQL database (``--database-url postgresql://...``).

``casework openapi`` writes (or ``--check``s) the committed OpenAPI document.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from engine.cli import _common as out
from engine.cli import delivery
from engine.cli.config import (
    LOG_FORMATS,
    LOG_LEVELS,
    Settings,
    acting_user_verifier,
    add_config_option,
    resolve,
)
from engine.errors import EngineError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from engine.api.clients import ClientRegistry
    from engine.api.metrics import ApiMetrics
    from engine.runtime.engine import Engine

CLIENTS_FILE_NAME = "casework-clients.json"
OPENAPI_PATH = Path("docs") / "openapi.json"

log = logging.getLogger("casework.serve")


def clients_path_for(database_url: str) -> Path:
    """Where the bootstrap clients file goes: beside an SQLite file, else the cwd."""
    import sqlalchemy as sa

    parsed = sa.engine.make_url(database_url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return Path(str(parsed.database)).resolve().parent / CLIENTS_FILE_NAME
    return Path.cwd() / CLIENTS_FILE_NAME


def load_clients(args: argparse.Namespace) -> ClientRegistry:
    """``--clients``, else $CASEWORK_CLIENTS_FILE, else the bootstrap file (created once);
    re-read whenever it changes (:class:`~engine.api.clients_file.ReloadingClientRegistry`)."""
    from engine.api.clients import bootstrap_clients_file
    from engine.api.clients_file import ReloadingClientRegistry

    given = args.clients or os.environ.get("CASEWORK_CLIENTS_FILE")
    if given:
        return ReloadingClientRegistry(given)
    path = clients_path_for(args.database_url)
    token = bootstrap_clients_file(path)
    if token is not None:
        sys.stderr.write(
            f"\nCreated {path} with one admin client. Its token (shown only now):\n\n"
            f"    {token}\n\n"
            f'Try:  curl -H "Authorization: Bearer {token}" '
            f"http://{args.host}:{args.port}/v1/definitions\n\n"
        )
        sys.stderr.flush()
    return ReloadingClientRegistry(path)


class _FallbackWorker:
    """Fires due timers and delivers the outbox when the scheduler's worker is absent."""

    def __init__(self, engine: Engine, interval: float = 5.0) -> None:
        self.engine = engine
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="casework-timers", daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.engine.fire_due_timers()
                self.engine.deliver_outbox()
            except Exception as exc:  # keep serving; logged by type only (no data)
                log.error("timer loop: %s", type(exc).__name__)
            self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread.start()

    def stop(self, wait: bool = True) -> None:
        self._stop.set()
        if wait:
            self._thread.join()


def start_worker(engine: Engine, metrics: ApiMetrics | None = None) -> Any:
    """The timer worker in this process; with ``metrics``, its lag and counters are exported."""
    from engine.api.worker_metrics import LagObservingEngine, watch_worker

    try:
        from engine.scheduling.worker import TimerWorker
    except ModuleNotFoundError:
        worker: Any = _FallbackWorker(engine)
    else:
        target: Any = engine if metrics is None else LagObservingEngine(engine, metrics)
        worker = TimerWorker(target)
        if metrics is not None:
            watch_worker(metrics, lambda: worker.stats)
    worker.start()
    return worker


def _configure_logging(level: str, log_format: str = "json") -> None:
    """Our loggers (and uvicorn's start-up lines) at ``level``; libraries at WARNING.

    One JSON object per line by default (``--log-format text`` for people):
    values are escaped, and no logger prints exception text or SQL parameters
    (SQLAlchemy's and psycopg's own loggers stay at WARNING and echo is off).
    """
    from engine.api.log_format import formatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(log_format))
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    for name in ("sqlalchemy", "psycopg"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in ("casework", "engine", "uvicorn.error"):
        logging.getLogger(name).setLevel(getattr(logging, level.upper(), logging.INFO))
    # uvicorn's access log prints query strings, which may carry patient data.
    logging.getLogger("uvicorn.access").disabled = True


def serve_settings(args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    """``serve``'s settings: its options over the environment over ``--config``'s file.

    Writes the resolved database URL, workflows and clients file back into ``args``
    for the helpers that read them. Raises ConfigInvalid.
    """
    settings = resolve(
        {
            "database_url": args.database_url,
            "workflows": args.workflows,
            "log_level": args.log_level,
            "log_format": args.log_format,
            "server_host": args.host,
            "server_port": args.port,
            "server_clients_file": args.clients or env.get("CASEWORK_CLIENTS_FILE") or None,
            "server_metrics_public": args.metrics_public,
            "server_max_body_bytes": args.max_body_bytes,
            "server_header_timeout": args.header_timeout,
            "server_body_timeout": args.body_timeout,
            "server_worker": None if args.no_worker is None else not args.no_worker,
        },
        env,
        args.config,
    )
    args.database_url = settings.database_url
    args.workflows = list(settings.workflows) or None
    args.clients = settings.server_clients_file
    args.host, args.port = settings.server_host, settings.server_port
    if settings.delivery and getattr(args, "delivery_config", None) is None:
        args.delivery_config = settings.config_file  # its [delivery] table
    return settings


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from engine.api import create_app
    from engine.api.health import schema_readiness
    from engine.api.routes_changes import configure_change_feed
    from engine.api.slow_clients import timed_h11_protocol

    try:
        settings = serve_settings(args, os.environ)
    except EngineError as exc:
        out.error(exc.message)
        return 1
    _configure_logging(settings.log_level, settings.log_format)
    try:
        engine = out.open_engine(args, must_exist=False)
    except EngineError as exc:
        out.error(exc.message)
        return 1
    worker = None
    try:
        # --delivery-config FILE, else the configuration file's [delivery] table
        delivery.configure(engine, args)
        clients = load_clients(args)
        app = create_app(
            engine,
            clients=clients,
            max_body_bytes=settings.server_max_body_bytes,
            metrics_public=settings.server_metrics_public,
            readiness=schema_readiness(engine),
        )
        app.state.acting_user = acting_user_verifier(settings, os.environ)
        configure_change_feed(
            app,
            max_wait_seconds=settings.changes_max_wait_seconds,
            stream_seconds=settings.changes_stream_seconds,
        )
        if settings.server_worker:
            worker = start_worker(engine, app.state.metrics)
        names = sorted({d.name for d in engine.definitions()})
        log.info(
            "serving %d workflow(s) (%s) on http://%s:%d, timer worker %s",
            len(names),
            ", ".join(names),
            settings.server_host,
            settings.server_port,
            "off" if worker is None else "on",
        )
        config = uvicorn.Config(
            app,
            host=settings.server_host,
            port=settings.server_port,
            access_log=False,  # our own access log carries no query strings or bodies
            log_level=settings.log_level,
            log_config=None,
            lifespan="off",
            # slow clients cut off: headers and body each have a deadline (408)
            http=timed_h11_protocol(settings.server_header_timeout, settings.server_body_timeout),
        )
        uvicorn.Server(config).run()
        return 0
    except EngineError as exc:
        out.error(exc.message)
        return 1
    finally:
        if worker is not None:
            worker.stop(wait=True)
        engine.close()


def build_openapi_app() -> FastAPI:
    """An app for generating the OpenAPI document (no database needed)."""
    from engine.api import ClientRegistry, create_app
    from engine.api.metrics import ApiMetrics

    return create_app(
        cast("Engine", object()),
        clients=ClientRegistry(),
        metrics=ApiMetrics(),
        readiness=dict,
    )


def openapi_text() -> str:
    from engine.api import openapi_document

    return json.dumps(openapi_document(build_openapi_app()), indent=2) + "\n"


def cmd_openapi(args: argparse.Namespace) -> int:
    text = openapi_text()
    target = Path(args.output)
    if args.check:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if json.loads(current or "null") != json.loads(text):
            out.error(f"{target} is out of date; run `casework openapi`")
            return 1
        return 0
    if str(target) == "-":
        sys.stdout.write(text)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        out.progress(f"wrote {target}")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("serve", help="run the HTTP API and the timer worker (the main job)")
    out.add_database_options(p)
    add_config_option(p)
    p.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="default 8000")
    p.add_argument(
        "--clients",
        metavar="FILE",
        help="API clients file (JSON or TOML; env CASEWORK_CLIENTS_FILE; default: "
        f"{CLIENTS_FILE_NAME} next to the database, created with an admin token); "
        "re-read when it changes",
    )
    p.add_argument(
        "--no-worker", action="store_const", const=True, default=None, help="serve the API only"
    )
    delivery.add_option(p)
    p.add_argument(
        "--metrics-public",
        action="store_const",
        const=True,
        default=None,
        help="serve /metrics without a token",
    )
    p.add_argument("--max-body-bytes", type=int, default=None, help="default 1048576")
    p.add_argument("--log-level", default=None, choices=LOG_LEVELS, help="default info")
    p.add_argument(
        "--header-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="a request's headers must arrive within this (else 408 and close; default 10)",
    )
    p.add_argument(
        "--body-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="a request's body must arrive within this after its headers (default 30)",
    )
    p.add_argument(
        "--log-format",
        default=None,
        choices=LOG_FORMATS,
        help="json: one object per line (default); text: escaped lines for people",
    )
    p.set_defaults(func=cmd_serve, database_url=None)

    p = subparsers.add_parser("openapi", help="write the OpenAPI document of the HTTP API")
    p.add_argument("--output", default=str(OPENAPI_PATH), help="default %(default)s; - for stdout")
    p.add_argument("--check", action="store_true", help="exit 1 if the file is out of date")
    p.set_defaults(func=cmd_openapi)
