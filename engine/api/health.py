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


def schema_readiness(engine: Engine) -> ReadinessCheck:
    """Database reachable and at the newest migration shipped with this version."""
    return engine.check_ready
