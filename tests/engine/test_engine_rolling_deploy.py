"""Finding 12: a running engine (worker or server) picks up versions registered by
another process, without a restart."""

from __future__ import annotations

import multiprocessing as mp
from datetime import timedelta

import pytest
from engine_support import CLERK, RECORD, V1, V2
from mp_workers import run

from engine.clock import ManualClock
from engine.runtime.engine import Engine
from engine.runtime.registry import Registry

CTX = mp.get_context("spawn")


def _in_another_process(name: str, *args: object) -> object:
    results = CTX.Queue()
    proc = CTX.Process(target=run, args=(name, results, args))
    proc.start()
    status, value = results.get(timeout=240)
    proc.join(60)
    assert status == "ok", value
    return value


def test_worker_fires_timers_of_a_version_registered_by_another_process(
    database_url: str, clock: ManualClock
) -> None:
    with Engine.open(database_url, workflows=V1, clock=clock) as old:
        assert [d.version for d in old.definitions()] == [1]
        case_id = _in_another_process("register_v2_and_open", database_url, clock.now().isoformat())
        assert isinstance(case_id, str)
        clock.advance(timedelta(days=1, minutes=1))
        assert old.fire_due_timers() == 1  # v2's nudge timer, on the engine started with v1
        assert [h.event for h in old.history(case_id)][-1] == "nudge_due"
        view = old.send(case_id, "contacted", **CLERK)
        assert (view.workflow_version, view.state) == (2, "assessing")
        assert old.verify_audit().ok


def test_new_cases_open_on_the_latest_version_registered_elsewhere(
    database_url: str, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Registry, "refresh_seconds", 0.0)
    with Engine.open(database_url, workflows=V1, clock=clock) as old:
        assert old.open_case("enginetest", RECORD, **CLERK).workflow_version == 1
        with Engine.open(database_url, workflows=V2, clock=clock) as new:
            assert new.open_case("enginetest", RECORD, **CLERK).workflow_version == 2
        assert old.open_case("enginetest", RECORD, **CLERK).workflow_version == 2
        assert [d.version for d in old.definitions()] == [1, 2]


def test_latest_version_is_rechecked_at_most_once_per_interval(
    database_url: str, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Registry, "refresh_seconds", 3600.0)
    with Engine.open(database_url, workflows=V1, clock=clock) as old:
        with Engine.open(database_url, workflows=V2, clock=clock):
            pass
        # within the interval "latest" may be stale, a named version never is
        assert old.open_case("enginetest", RECORD, **CLERK).workflow_version == 1
        assert old.definition("enginetest", 2).version == 2
        assert old.open_case("enginetest", RECORD, **CLERK).workflow_version == 2
