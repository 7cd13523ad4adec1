"""The engine through the store interface: driver errors translated, retries, action report."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from engine_support import CLERK, RECORD, V1

from engine.clock import ManualClock
from engine.errors import DuplicateKey
from engine.runtime.engine import Engine
from engine.store.interface import StoreTransaction
from engine.store.records import IdempotencyRecord
from engine.store.sqlalchemy_store import SqlAlchemyStore, SqlAlchemyTransaction

V1_ACTIONS = ("escalate", "left_intake", "log_contact", "notify_assessor")


class _LateTransaction(SqlAlchemyTransaction):
    """Misses the key once: as if the concurrent request committed just after the read."""

    misses: list[str]

    def get_idempotency(self, key: str) -> IdempotencyRecord | None:
        if key in self.misses:
            self.misses.remove(key)
            return None
        return super().get_idempotency(key)


class RacingStore(SqlAlchemyStore):
    """A store whose next read of each key in ``misses`` finds nothing."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.misses: list[str] = []
        self.writes = 0

    @contextmanager
    def write(self) -> Iterator[StoreTransaction]:
        self.writes += 1
        with super().write() as tx:
            assert isinstance(tx, SqlAlchemyTransaction)
            late = _LateTransaction(tx.conn, tx.postgres)
            late.misses = self.misses
            yield late


@pytest.fixture
def racing(database_url: str) -> Iterator[tuple[Engine, RacingStore]]:
    store = RacingStore(database_url)
    eng = Engine.open(database_url, workflows=V1, clock=ManualClock(), store=store)
    try:
        yield eng, store
    finally:
        eng.close()


def test_store_translates_a_duplicate_idempotency_key_to_duplicate_key(
    database_url: str,
) -> None:
    with Engine.open(database_url, workflows=V1) as eng:
        case = eng.open_case("enginetest", RECORD, **CLERK)
    store = SqlAlchemyStore(database_url)
    entry = IdempotencyRecord("k-dup", "fp", case.id, {}, datetime(2026, 1, 1, tzinfo=UTC))
    try:
        with store.write() as tx:
            tx.insert_idempotency(entry)
        with pytest.raises(DuplicateKey) as err, store.write() as tx:
            tx.insert_idempotency(entry)
        assert err.value.code == "duplicate-key"
        with store.read() as tx:  # the failed transaction left nothing behind
            assert tx.get_idempotency("k-dup") == entry
    finally:
        store.close()


def test_send_that_loses_the_race_for_its_key_replays_the_winner_once(
    racing: tuple[Engine, RacingStore],
) -> None:
    eng, store = racing
    case = eng.open_case("enginetest", RECORD, **CLERK)
    eng.send(case.id, "contacted", **CLERK)
    note = {"note": "once"}
    first = eng.send(case.id, "annotate", note, idempotency_key="k-send", **CLERK)
    store.misses.append("k-send")
    before = store.writes
    again = eng.send(case.id, "annotate", note, idempotency_key="k-send", **CLERK)
    assert store.writes - before == 2  # the lost race rolled back, the retry replayed
    assert again == first
    assert [h.idempotency_key for h in eng.history(case.id)] == [None, None, "k-send"]
    assert eng.verify_audit(case.id).ok


def test_open_that_loses_the_race_for_its_key_replays_the_winner_once(
    racing: tuple[Engine, RacingStore],
) -> None:
    eng, store = racing
    first = eng.open_case("enginetest", RECORD, idempotency_key="k-open", **CLERK)
    store.misses.append("k-open")
    again = eng.open_case("enginetest", RECORD, idempotency_key="k-open", **CLERK)
    assert again == first
    assert len(eng.find(workflow="enginetest").items) == 1


def test_unhandled_actions_lists_each_version_s_actions_without_a_handler(engine: Engine) -> None:
    assert engine.unhandled_actions() == {("enginetest", 1): V1_ACTIONS}
    engine.register_action("escalate", lambda ctx: None)
    assert engine.unhandled_actions() == {("enginetest", 1): V1_ACTIONS[1:]}
    for name in V1_ACTIONS:
        engine.register_action(name, lambda ctx: None)
    assert engine.unhandled_actions() == {}


def test_open_logs_one_warning_naming_the_unhandled_actions(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="engine.runtime.engine"):
        Engine.open(database_url, workflows=V1).close()
    warnings = [r for r in caplog.records if r.name == "engine.runtime.engine"]
    assert len(warnings) == 1
    assert "enginetest v1: " + ", ".join(V1_ACTIONS) in warnings[0].getMessage()


def test_open_with_every_action_registered_logs_no_warning(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    actions = {name: (lambda ctx: None) for name in V1_ACTIONS}
    with caplog.at_level(logging.WARNING, logger="engine.runtime.engine"):
        Engine.open(database_url, workflows=V1, actions=actions).close()
    assert [r for r in caplog.records if r.name == "engine.runtime.engine"] == []
