"""Fixtures for the engine tests: an Engine on each backend with a manual clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from engine_support import V1

from engine.clock import ManualClock
from engine.runtime.engine import Engine


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def engine(database_url: str, clock: ManualClock) -> Iterator[Engine]:
    eng = Engine.open(database_url, workflows=V1, clock=clock)
    try:
        yield eng
    finally:
        eng.close()
