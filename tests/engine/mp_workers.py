"""Functions run in spawned processes by the multi-process engine tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from engine_support import CLERK, V1

from engine.errors import ConcurrencyConflict, EventRejected
from engine.runtime.engine import Engine
from engine.store.interface import StoreTransaction
from engine.store.sqlalchemy_store import SqlAlchemyStore, SqlAlchemyTransaction


def contend(
    url: str, case_id: str, sends: int, tag: int, barrier: Any
) -> tuple[int, int, list[str]]:
    """Read-then-send with expected_version; count wins and conflicts."""
    wins = conflicts = 0
    states: list[str] = []
    with Engine.open(url, workflows=V1) as eng:
        barrier.wait()
        for i in range(sends):
            version = eng.get(case_id).version
            try:
                eng.send(
                    case_id, "annotate", {"note": f"p{tag}-{i}"}, expected_version=version, **CLERK
                )
                wins += 1
            except ConcurrencyConflict as exc:
                conflicts += 1
                states.append(exc.state)
    return wins, conflicts, states


def race_one_event(url: str, case_id: str, barrier: Any) -> tuple[str, str]:
    """Everyone sends the same state-changing event once: one wins."""
    with Engine.open(url, workflows=V1) as eng:
        barrier.wait()
        try:
            eng.send(case_id, "contacted", **CLERK)
        except EventRejected as exc:
            return ("rejected", exc.state)
        return ("won", "")


def retry_with_key(url: str, case_id: str, key: str, barrier: Any) -> dict[str, Any]:
    with Engine.open(url, workflows=V1) as eng:
        barrier.wait()
        return eng.send(case_id, "contacted", idempotency_key=key, **CLERK).to_dict()


class _HoldingTransaction(SqlAlchemyTransaction):
    """After the case update and its history row: tell the parent, then block until killed."""

    hold_path = ""

    def advance_case(self, before: Any, after: Any, history: Any) -> bool:
        ok = super().advance_case(before, after, history)
        with open(self.hold_path, "w") as f:
            f.write("holding\n")
        threading.Event().wait()
        return ok  # pragma: no cover - killed while waiting


class HoldingStore(SqlAlchemyStore):
    """The SQLAlchemy store whose write transactions hold (see _HoldingTransaction)."""

    def __init__(self, url: str, hold_path: str) -> None:
        super().__init__(url)
        self.hold_path = hold_path

    @contextmanager
    def write(self) -> Iterator[StoreTransaction]:
        with super().write() as tx:
            assert isinstance(tx, SqlAlchemyTransaction)
            holding = _HoldingTransaction(tx.conn, tx.postgres)
            holding.hold_path = self.hold_path
            yield holding


def send_and_hold(url: str, case_id: str, hold_path: str) -> None:
    """Blocks inside the transaction, after the history insert, until killed."""
    with Engine.open(url, workflows=V1, store=HoldingStore(url, hold_path)) as eng:
        eng.send(case_id, "contacted", **CLERK)


def run(name: str, results: Any, args: tuple[Any, ...]) -> None:
    """Process entry point: call one of the functions above, report its result."""
    try:
        results.put(("ok", globals()[name](*args)))
    except BaseException as exc:  # report, don't hang the parent
        results.put(("error", f"{type(exc).__name__}: {exc}"))


def open_with_key(url: str, key: str, barrier: Any) -> dict[str, Any]:
    with Engine.open(url, workflows=V1) as eng:
        barrier.wait()
        return eng.open_case(
            "enginetest", {"patient_id": "P-0001"}, idempotency_key=key, **CLERK
        ).to_dict()


def register_v2_and_open(url: str, start_iso: str) -> str:
    """A newer deploy: register v2 of the workflow and open one case on it."""
    from datetime import datetime

    from engine_support import V2

    from engine.clock import ManualClock

    clock = ManualClock(datetime.fromisoformat(start_iso))
    with Engine.open(url, workflows=V2, clock=clock) as eng:
        case = eng.open_case("enginetest", {"patient_id": "P-0002"}, **CLERK)
        assert case.workflow_version == 2
        return case.id
