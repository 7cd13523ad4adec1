"""Readiness checks: the database answers and its schema is current."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.runtime.engine import Engine

log = logging.getLogger("casework.api")

ReadinessCheck = Callable[[], dict[str, str]]


def engine_readiness(engine: Engine) -> ReadinessCheck:
    """Database reachable: a cheap query through the engine."""

    def check() -> dict[str, str]:
        try:
            engine.next_timer_due()
        except Exception as exc:  # any failure means "not ready"; logged by type only
            log.warning("readiness: database check failed (%s)", type(exc).__name__)
            return {"database": "unreachable"}
        return {"database": "ok"}

    return check


def schema_readiness(database_url: str) -> ReadinessCheck:
    """Database reachable and at the newest migration shipped with this version."""
    from engine.store.database import create_database_engine
    from engine.store.migrate import current_revision, head_revision

    db = create_database_engine(database_url, pool_size=1)
    head = head_revision()

    def check() -> dict[str, str]:
        try:
            current = current_revision(db)
        except Exception as exc:  # any failure means "not ready"; logged by type only
            log.warning("readiness: database check failed (%s)", type(exc).__name__)
            return {"database": "unreachable", "schema": "unknown"}
        return {"database": "ok", "schema": "ok" if current == head else "out_of_date"}

    return check
