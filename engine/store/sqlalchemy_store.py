"""The SQLAlchemy store: :class:`SqlAlchemyStore` implements :class:`CaseStore` on
SQLite and PostgreSQL (psycopg 3).

The only module that turns driver errors into engine errors
(:func:`_translate_errors`: a unique key taken by a concurrent transaction is
:class:`~engine.errors.DuplicateKey`). The SQL itself is in
``case_queries.py``, ``timer_queries.py`` and ``outbox_queries.py``; which
column holds which field is in ``mapping.py``. The runtime never imports this
module: :func:`engine.store.open_store` loads it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from engine.errors import DuplicateKey, SchemaOutOfDate
from engine.store import case_queries as cq
from engine.store import migrate
from engine.store import outbox_queries as oq
from engine.store import records as r
from engine.store import timer_queries as tq
from engine.store.database import READ, create_database_engine, is_postgres
from engine.store.interface import CaseStore, StoreTransaction


@contextmanager
def _translate_errors() -> Iterator[None]:
    """Driver errors the engine handles, as engine errors (the one place that does it)."""
    try:
        yield
    except sa.exc.IntegrityError as exc:  # a unique key inserted concurrently
        raise DuplicateKey() from exc


class SqlAlchemyTransaction(StoreTransaction):
    """A :class:`StoreTransaction` on one open SQLAlchemy connection."""

    __slots__ = ("conn", "postgres")

    def __init__(self, conn: sa.Connection, postgres: bool) -> None:
        self.conn = conn
        self.postgres = postgres

    def now(self) -> datetime:
        return cq.db_now(self.conn)

    def definitions(self) -> list[r.DefinitionRecord]:
        return cq.definitions(self.conn)

    def insert_definition(self, definition: r.DefinitionRecord) -> None:
        with _translate_errors():
            cq.insert_definition(self.conn, definition)

    def lock_case(
        self, case_id: str, *, with_db_now: bool = False
    ) -> tuple[r.CaseRecord, datetime | None] | None:
        return cq.lock_case(self.conn, self.postgres, case_id, with_db_now)

    def get_case(self, case_id: str) -> r.CaseRecord | None:
        return cq.get_case(self.conn, case_id)

    def insert_case(self, case: r.CaseRecord, history: r.HistoryRecord) -> None:
        with _translate_errors():
            cq.insert_case(self.conn, case, history)

    def advance_case(
        self, before: r.CaseRecord, after: r.CaseRecord, history: r.HistoryRecord
    ) -> bool:
        with _translate_errors():
            return cq.advance_case(self.conn, self.postgres, before, after, history)

    def find_cases(
        self, query: r.CaseQuery, *, now: datetime, limit: int, after: tuple[datetime, str] | None
    ) -> list[r.CaseRecord]:
        return cq.find_cases(self.conn, query, now=now, limit=limit, after=after)

    def history(self, case_id: str) -> list[r.HistoryRecord]:
        return cq.history(self.conn, case_id)

    def history_batches(self, case_id: str | None, batch: int = 1000) -> Iterator[r.HistoryRecord]:
        return cq.history_batches(self.conn, case_id, batch)

    def case_heads(self, case_id: str | None) -> dict[str, r.CaseHead]:
        return cq.case_heads(self.conn, case_id)

    def insert_access(self, access: r.AccessRecord) -> None:
        cq.insert_access(self.conn, access)

    def get_idempotency(self, key: str) -> r.IdempotencyRecord | None:
        return cq.get_idempotency(self.conn, key)

    def insert_idempotency(self, entry: r.IdempotencyRecord) -> None:
        with _translate_errors():
            cq.insert_idempotency(self.conn, entry)

    def insert_timers(self, timers: Sequence[r.TimerRecord]) -> list[int]:
        return tq.insert_timers(self.conn, timers)

    def cancel_timers(self, case_id: str, statuses: tuple[r.TimerStatus, ...]) -> int:
        return tq.cancel_timers(self.conn, case_id, statuses)

    def cancel_timer(self, timer_id: int) -> None:
        tq.cancel_timer(self.conn, timer_id)

    def postpone_failed_timer(
        self, timer_id: int, due_at: datetime, attempts: int, last_error: str
    ) -> None:
        tq.update_timer(
            self.conn,
            timer_id,
            {"due_at": due_at, "attempts": attempts, "last_error": last_error[:200]},
        )

    def pause_timers(self, case_id: str, now: datetime, pausable_names: Sequence[str]) -> None:
        tq.pause_timers(self.conn, case_id, now, pausable_names)

    def resume_timer(self, timer_id: int, due_at: datetime, state_entry_seq: int) -> None:
        tq.resume_timer(self.conn, timer_id, due_at, state_entry_seq)

    def live_timers_of(self, case_id: str) -> list[r.TimerRecord]:
        return tq.live_timers_of(self.conn, case_id)

    def live_timers_for(self, case_ids: Sequence[str]) -> dict[str, list[r.TimerRecord]]:
        return tq.live_timers_for(self.conn, case_ids)

    def paused_timers_of(self, case_id: str) -> list[r.TimerRecord]:
        return tq.paused_timers_of(self.conn, case_id)

    def clock_timers_of(self, case_id: str) -> list[r.TimerRecord]:
        return tq.clock_timers_of(self.conn, case_id)

    def end_clock_timers(self, timer_ids: Sequence[int]) -> None:
        tq.end_clock_timers(self.conn, timer_ids)

    def pause_timer(self, timer_id: int, now: datetime, due_at: datetime) -> None:
        tq.pause_timer(self.conn, timer_id, now, due_at)

    def claim_next_due_timer(self, now: datetime | None) -> r.ClaimedTimer | None:
        return tq.claim_next_due_timer(self.conn, self.postgres, now)

    def next_timer_due(self) -> datetime | None:
        return tq.next_timer_due(self.conn)

    def list_timers(self, **filters: Any) -> list[r.TimerRecord]:
        return tq.list_timers(self.conn, **filters)

    def insert_outbox(self, items: Sequence[r.OutboxRecord]) -> None:
        oq.insert_outbox(self.conn, items)

    def claim_outbox(self, now: datetime, limit: int) -> list[r.OutboxRecord]:
        return oq.claim_outbox(self.conn, self.postgres, now, limit)

    def get_outbox(self, item_id: int, *, lock: bool = False) -> r.OutboxRecord | None:
        return oq.get_outbox(self.conn, self.postgres, item_id, lock)

    def lease_outbox(self, item_id: int, attempts: int, until: datetime) -> None:
        oq.update_outbox(self.conn, item_id, {"attempts": attempts, "next_attempt_at": until})

    def settle_outbox(
        self,
        item_id: int,
        status: r.OutboxStatus,
        last_error: str | None,
        next_attempt_at: datetime | None,
    ) -> None:
        values = {"status": status.value, "last_error": last_error}
        oq.update_outbox(self.conn, item_id, {**values, "next_attempt_at": next_attempt_at})

    def reset_outbox(self, item_id: int, now: datetime) -> None:
        values = {"status": r.OutboxStatus.PENDING.value, "attempts": 0, "next_attempt_at": now}
        oq.update_outbox(self.conn, item_id, values)

    def list_outbox(
        self, *, status: str | None, limit: int, after_id: int | None
    ) -> list[r.OutboxRecord]:
        return oq.list_outbox(self.conn, status=status, limit=limit, after_id=after_id)

    def stats(self, now: datetime) -> dict[str, Any]:
        return oq.stats(self.conn, now)


class SqlAlchemyStore(CaseStore):
    """Cases in an SQLite file or a PostgreSQL database (see ``database.py`` for locking)."""

    def __init__(self, url: str) -> None:
        self.db = create_database_engine(url)
        self.postgres = is_postgres(self.db)
        self.has_database_clock = self.postgres

    def close(self) -> None:
        self.db.dispose()

    @contextmanager
    def write(self) -> Iterator[StoreTransaction]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite)."""
        with _translate_errors(), self.db.begin() as conn:
            yield SqlAlchemyTransaction(conn, self.postgres)

    @contextmanager
    def read(self) -> Iterator[StoreTransaction]:
        """A read-only transaction (deferred BEGIN on SQLite)."""
        with self.db.connect() as conn:
            conn = conn.execution_options(**READ)
            with conn.begin():
                yield SqlAlchemyTransaction(conn, self.postgres)

    def ensure_schema(self, upgrade: bool | None) -> None:
        head = migrate.head_revision()
        current = migrate.current_revision(self.db)
        if current == head:
            return
        if upgrade or (upgrade is None and current is None and not migrate.has_any_table(self.db)):
            migrate.upgrade(self.db)
            return
        raise SchemaOutOfDate(
            f"database schema is at revision {current or 'none'}, this Casework needs {head}: "
            "run `casework db upgrade --database-url URL`"
        )

    def schema_status(self) -> tuple[str | None, str]:
        return migrate.current_revision(self.db), migrate.head_revision()


def open_store(url: str) -> SqlAlchemyStore:
    """The store for a database URL (``sqlite:///file.db``, ``postgresql://...``)."""
    return SqlAlchemyStore(url)


def upgrade_database(url: str, revision: str = "head") -> dict[str, str | None]:
    """``casework db upgrade``: the revision before, after, and the newest shipped."""
    db = create_database_engine(url)
    try:
        before = migrate.current_revision(db)
        migrate.upgrade(db, revision)
        after = migrate.current_revision(db)
    finally:
        db.dispose()
    return {"from_revision": before, "to_revision": after, "head": migrate.head_revision()}


def database_revision(url: str) -> tuple[str | None, str]:
    """``casework db current``: (the database's revision or None, the newest shipped)."""
    db = create_database_engine(url, pool_size=1)
    try:
        return migrate.current_revision(db), migrate.head_revision()
    finally:
        db.dispose()
