"""Idempotent replays and optimistic concurrency on one process."""

from __future__ import annotations

import pytest
from engine_support import CLERK, MANAGER, RECORD

from engine.errors import ConcurrencyConflict, IdempotencyKeyReused
from engine.runtime.engine import Engine


def test_replay_with_same_key_returns_original_and_changes_nothing(engine: Engine) -> None:
    case = engine.open_case("enginetest", RECORD, idempotency_key="open-1", **CLERK)
    again = engine.open_case("enginetest", RECORD, idempotency_key="open-1", **CLERK)
    assert again == case
    assert len(engine.find().items) == 1
    moved = engine.send(case.id, "contacted", idempotency_key="k1", **CLERK)
    engine.send(case.id, "annotate", {"note": "n"}, **CLERK)
    replay = engine.send(case.id, "contacted", idempotency_key="k1", **CLERK)
    assert replay == moved
    assert replay.version == 2
    assert engine.get(case.id).version == 3
    assert [h.idempotency_key for h in engine.history(case.id)] == ["open-1", "k1", None]


def test_same_key_different_request_is_refused(engine: Engine) -> None:
    case = engine.open_case("enginetest", RECORD, **CLERK)
    engine.send(case.id, "attempt_failed", idempotency_key="k", **CLERK)
    with pytest.raises(IdempotencyKeyReused):
        engine.send(case.id, "contacted", idempotency_key="k", **CLERK)
    with pytest.raises(IdempotencyKeyReused):
        engine.open_case("enginetest", RECORD, idempotency_key="k", **CLERK)
    assert engine.get(case.id).version == 2


def test_expected_version_conflict_names_current_state_and_version(engine: Engine) -> None:
    case = engine.open_case("enginetest", RECORD, **CLERK)
    engine.send(case.id, "contacted", expected_version=1, **CLERK)
    with pytest.raises(ConcurrencyConflict) as err:
        engine.send(case.id, "annotate", {"note": "x"}, expected_version=1, **MANAGER)
    assert (err.value.expected_version, err.value.actual_version) == (1, 2)
    assert err.value.state == "assessing"
    assert "assessing" in str(err.value)


def test_rejected_event_changes_nothing(engine: Engine) -> None:
    case = engine.open_case("enginetest", RECORD, **CLERK)
    with pytest.raises(Exception):  # noqa: B017 - any rejection
        engine.send(case.id, "finish", idempotency_key="r", **MANAGER)
    assert engine.get(case.id) == case
    assert len(engine.history(case.id)) == 1
    # the key was not consumed by the failed request
    engine.send(case.id, "contacted", idempotency_key="r", **CLERK)
