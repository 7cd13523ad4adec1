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

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from engine.errors import DuplicateKey, SchemaOutOfDate
from engine.store import bulk_queries as bq
from engine.store import case_queries as cq
from engine.store import change_queries as chq
from engine.store import item_queries as iq
from engine.store import item_search_queries as isq
from engine.store import key_queries as kq
from engine.store import link_queries as lq
from engine.store import outbox_queries as oq
from engine.store import owner_queries as owq
from engine.store import records as r
from engine.store import revisions
from engine.store import timer_queries as tq
from engine.store import worklist_queries as wq
from engine.store.database import READ, create_database_engine, is_postgres
from engine.store.group_commit import GroupCommit
from engine.store.interface import CaseStore, StoreTransaction


@contextmanager
def _translate_errors() -> Iterator[None]:
    """Driver errors the engine handles, as engine errors (the one place that does it)."""
    try:
        yield
    except sa.exc.IntegrityError as exc:  # a unique key inserted concurrently
        raise DuplicateKey() from exc


ItemKey = tuple[str, str, int, int]  # case id, item id, opened_seq, version


class ItemCache:
    """Decoded item rows by ``(case, item, opened_seq, version)``, shared by a store's
    transactions so that reading a case with many items decodes only the items changed
    since (an item's version grows with each change, and ``opened_seq`` tells a
    re-created id apart). Rows reach it only when the transaction that read them
    committed: a rolled-back write leaves nothing behind. Bounded, least recent out."""

    def __init__(self, limit: int = 50_000) -> None:
        self._rows: OrderedDict[ItemKey, r.ItemRecord] = OrderedDict()
        self._lock = threading.Lock()
        self._limit = limit

    def get(self, key: ItemKey) -> r.ItemRecord | None:
        with self._lock:
            row = self._rows.get(key)
            if row is not None:
                self._rows.move_to_end(key)
            return row

    def update(self, rows: dict[ItemKey, r.ItemRecord]) -> None:
        with self._lock:
            self._rows.update(rows)
            while len(self._rows) > self._limit:
                self._rows.popitem(last=False)


class SqlAlchemyTransaction(StoreTransaction):
    """A :class:`StoreTransaction` on one open SQLAlchemy connection."""

    __slots__ = ("conn", "item_cache", "postgres", "read_items")

    def __init__(
        self, conn: sa.Connection, postgres: bool, item_cache: ItemCache | None = None
    ) -> None:
        self.conn = conn
        self.postgres = postgres
        self.item_cache = item_cache
        #: item rows this transaction decoded: for ``item_cache`` once it committed
        self.read_items: dict[ItemKey, r.ItemRecord] = {}

    def commit_reads(self) -> None:
        """The transaction committed: what it read may serve later transactions."""
        if self.item_cache is not None and self.read_items:
            self.item_cache.update(self.read_items)

    def now(self) -> datetime:
        return cq.db_now(self.conn)

    def definitions(self) -> list[r.DefinitionRecord]:
        return cq.definitions(self.conn)

    def definitions_mark(self) -> tuple[int, int]:
        return cq.definitions_mark(self.conn)

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

    def present_cases(self, case_ids: Sequence[str]) -> set[str]:
        return bq.present_cases(self.conn, case_ids)

    def key_holders(self, workflow: str, name: str, values: Sequence[str]) -> dict[str, str]:
        return bq.key_holders(self.conn, workflow, name, values)

    def import_cases(
        self,
        cases: Sequence[tuple[r.CaseRecord, r.HistoryRecord]],
        keys: Sequence[r.CaseKeyRecord],
        timers: Sequence[r.TimerRecord],
    ) -> None:
        with _translate_errors():
            bq.import_cases(self.conn, cases, keys, timers)

    def lock_cases(self, case_ids: Sequence[str]) -> list[r.CaseRecord]:
        return bq.lock_cases(self.conn, self.postgres, case_ids)

    def cancel_timers_by_id(self, timer_ids: Sequence[int]) -> None:
        bq.cancel_timers_by_id(self.conn, timer_ids)

    def migrate_cases(
        self, moves: Sequence[tuple[r.CaseRecord, r.CaseRecord, r.HistoryRecord]]
    ) -> bool:
        with _translate_errors():
            return bq.migrate_cases(self.conn, moves)

    def find_cases(
        self, query: r.CaseQuery, *, now: datetime, limit: int, after: tuple[datetime, str] | None
    ) -> list[r.CaseRecord]:
        return cq.find_cases(self.conn, query, now=now, limit=limit, after=after)

    def search_cases(
        self,
        query: r.CaseQuery,
        *,
        now: datetime,
        sort: r.CaseSort,
        limit: int,
        after: tuple[datetime, str] | None,
    ) -> list[tuple[r.CaseRecord, datetime]]:
        return wq.search_cases(self.conn, query, now=now, sort=sort, limit=limit, after=after)

    def count_cases(self, query: r.CaseQuery, *, now: datetime) -> int:
        return wq.count_cases(self.conn, query, now=now)

    def find_items(
        self,
        query: r.ItemQuery,
        *,
        now: datetime,
        limit: int,
        after: tuple[datetime, str, str] | None,
    ) -> list[r.ItemRecord]:
        return isq.find_items(self.conn, query, now=now, limit=limit, after=after)

    def count_items_matching(self, query: r.ItemQuery, *, now: datetime) -> int:
        return isq.count_items_matching(self.conn, query, now=now)

    def insert_item(self, item: r.ItemRecord) -> None:
        with _translate_errors():
            iq.insert_item(self.conn, item)

    def update_item(self, before: r.ItemRecord, after: r.ItemRecord) -> bool:
        return iq.update_item(self.conn, before, after)

    def get_item(self, case_id: str, item_id: str) -> r.ItemRecord | None:
        return iq.get_item(self.conn, case_id, item_id)

    def items_of(
        self, case_id: str, *, item_type: str | None = None, state: str | None = None
    ) -> list[r.ItemRecord]:
        if self.item_cache is None or item_type is not None or state is not None:
            return iq.items_of(self.conn, case_id, item_type=item_type, state=state)
        keys = [(case_id, *k) for k in iq.item_keys_of(self.conn, case_id)]
        found: dict[ItemKey, r.ItemRecord] = {}
        missing: list[str] = []
        for key in keys:
            row = self.read_items.get(key) or self.item_cache.get(key)
            if row is None:
                missing.append(key[1])
            else:
                found[key] = row
        for row in iq.items_by_id(self.conn, case_id, missing):
            key = (case_id, row.item_id, row.opened_seq, row.version)
            found[key] = self.read_items[key] = row
        # a key read but not found was changed since by a writer the snapshot cannot see
        # (not expected: the keys and the rows are read in one transaction)
        return [found[k] for k in keys if k in found]

    def items_for(self, case_ids: Sequence[str]) -> dict[str, list[r.ItemRecord]]:
        return iq.items_for(self.conn, case_ids)

    def count_items(self, case_id: str, item_type: str) -> int:
        return iq.count_items(self.conn, case_id, item_type)

    def cancel_item_timers(
        self, case_id: str, item_id: str | None, scopes: Sequence[r.TimerScope]
    ) -> int:
        return iq.cancel_item_timers(self.conn, case_id, item_id, scopes)

    def item_timers_of(self, case_id: str, item_id: str | None) -> list[r.TimerRecord]:
        return iq.item_timers_of(self.conn, case_id, item_id)

    def history(self, case_id: str) -> list[r.HistoryRecord]:
        return cq.history(self.conn, case_id)

    def history_batches(self, case_id: str | None, batch: int = 1000) -> Iterator[r.HistoryRecord]:
        return cq.history_batches(self.conn, case_id, batch)

    def case_heads(self, case_id: str | None) -> dict[str, r.CaseRecord]:
        return cq.case_heads(self.conn, case_id)

    def access_head(self) -> tuple[int, str] | None:
        return cq.access_head(self.conn, self.postgres)

    def insert_access(self, access: r.AccessRecord) -> None:
        with _translate_errors():
            cq.insert_access(self.conn, access)

    def access_batches(self, batch: int = 1000) -> Iterator[r.AccessRecord]:
        return cq.access_batches(self.conn, batch)

    def checkpoints(self) -> list[r.CheckpointRecord]:
        return cq.checkpoints(self.conn)

    def insert_checkpoint(self, checkpoint: r.CheckpointRecord) -> None:
        with _translate_errors():
            cq.insert_checkpoint(self.conn, checkpoint)

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

    def claim_outbox(
        self,
        now: datetime,
        limit: int,
        *,
        only: Sequence[str] | None = None,
        skip: Sequence[str] = (),
    ) -> list[r.OutboxRecord]:
        return oq.claim_outbox(self.conn, self.postgres, now, limit, only=only, skip=skip)

    def get_outbox(self, item_id: int, *, lock: bool = False) -> r.OutboxRecord | None:
        return oq.get_outbox(self.conn, self.postgres, item_id, lock)

    def lease_outbox(
        self,
        item_id: int,
        attempts: int,
        until: datetime,
        *,
        lease_token: int | None = None,
        worker: str | None = None,
    ) -> None:
        values: dict[str, Any] = {"attempts": attempts, "next_attempt_at": until}
        if lease_token is not None:
            values["lease_token"] = lease_token
        values["locked_by"] = worker
        oq.update_outbox(self.conn, item_id, values)

    def lease_outbox_batch(
        self, item_ids: Sequence[int], until: datetime, *, worker: str | None = None
    ) -> None:
        if item_ids:
            oq.lease_many(self.conn, item_ids, until, worker)

    def settle_outbox_batch(
        self,
        outcomes: Sequence[tuple[int, int, r.OutboxStatus, str | None, datetime | None]],
    ) -> None:
        oq.settle_many(self.conn, [(i, tok, st.value, e, at) for i, tok, st, e, at in outcomes])

    def extend_outbox_lease(self, item_id: int, lease_token: int, until: datetime) -> bool:
        return oq.update_fenced(self.conn, item_id, lease_token, {"next_attempt_at": until})

    def settle_outbox(
        self,
        item_id: int,
        status: r.OutboxStatus,
        last_error: str | None,
        next_attempt_at: datetime | None,
        *,
        lease_token: int | None = None,
    ) -> bool:
        values = {"status": status.value, "last_error": last_error, "locked_by": None}
        values_all = {**values, "next_attempt_at": next_attempt_at}
        if lease_token is None:
            oq.update_outbox(self.conn, item_id, values_all)
            return True
        return oq.update_fenced(self.conn, item_id, lease_token, values_all)

    def reset_outbox(self, item_id: int, now: datetime) -> None:
        values = {
            "status": r.OutboxStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "locked_by": None,
        }
        oq.update_outbox(self.conn, item_id, values)

    def list_outbox(
        self, *, status: str | None, limit: int, after_id: int | None
    ) -> list[r.OutboxRecord]:
        return oq.list_outbox(self.conn, status=status, limit=limit, after_id=after_id)

    def stats(self, now: datetime) -> dict[str, Any]:
        return oq.stats(self.conn, now)

    def changes_after(
        self, after: int, *, workflow: str | None, limit: int
    ) -> list[tuple[str, r.HistoryRecord]]:
        return chq.changes_after(self.conn, after, workflow=workflow, limit=limit)

    def last_change_seq(self) -> int:
        return chq.last_change_seq(self.conn)

    def replace_case_keys(self, case_id: str, keys: Sequence[r.CaseKeyRecord]) -> None:
        with _translate_errors():
            kq.replace_case_keys(self.conn, case_id, keys)

    def key_holder(self, workflow: str, name: str, value: str) -> str | None:
        return kq.holder_of(self.conn, workflow, name, value)

    def cases_with_keys(
        self, workflow: str | None, keys: Sequence[tuple[str, str]], *, open_only: bool, limit: int
    ) -> list[str]:
        return kq.cases_with_keys(self.conn, workflow, keys, open_only=open_only, limit=limit)

    # -- ownership (revision 0012) -----------------------------------------------

    def get_staff(self, person: str) -> r.StaffRecord | None:
        return owq.get_staff(self.conn, person)

    def list_staff(self, *, limit: int, after: str | None) -> list[r.StaffRecord]:
        return owq.list_staff(self.conn, limit=limit, after=after)

    def put_staff(self, staff: r.StaffRecord) -> None:
        owq.put_staff(self.conn, staff)

    def get_owner(self, case_id: str) -> r.OwnerRecord | None:
        return owq.get_owner(self.conn, case_id)

    def put_owner(self, owner: r.OwnerRecord) -> None:
        owq.put_owner(self.conn, owner)

    def sync_owner(self, case_id: str, weight: float, closed_at: datetime | None) -> None:
        owq.sync_owner(self.conn, case_id, weight, closed_at)

    def owned_cases(
        self,
        *,
        assignee: str | None,
        team: str | None,
        workflow: str | None,
        limit: int,
        after: str | None,
    ) -> list[str]:
        return owq.owned_cases(
            self.conn, assignee=assignee, team=team, workflow=workflow, limit=limit, after=after
        )

    def caseloads(self, by: str, holders: Sequence[str] | None = None) -> list[r.CaseloadRow]:
        return owq.caseloads(self.conn, by, holders)

    def worklist(
        self,
        query: r.WorklistQuery,
        *,
        now: datetime,
        limit: int,
        after: tuple[datetime, str, int] | None,
    ) -> list[r.WorklistRow]:
        return wq.worklist(self.conn, query, now=now, limit=limit, after=after)

    def ownership_stats(self, now: datetime) -> dict[str, Any]:
        stats = owq.ownership_stats(self.conn)
        stats["overdue_by_assignee"] = wq.overdue_by_holder(self.conn, "assignee", now)
        stats["overdue_by_team"] = wq.overdue_by_holder(self.conn, "team", now)
        return stats

    def insert_case_link(self, link: r.CaseLinkRecord) -> None:
        with _translate_errors():
            lq.insert_case_link(self.conn, link)

    def case_links(self, case_id: str) -> list[r.CaseLinkRecord]:
        return lq.case_links(self.conn, case_id)

    def link_batches(self, batch: int = 1000) -> Iterator[r.CaseLinkRecord]:
        return lq.link_batches(self.conn, batch)


class SqlAlchemyStore(CaseStore):
    """Cases in an SQLite file or a PostgreSQL database (see ``database.py`` for locking)."""

    def __init__(self, url: str) -> None:
        self.db = create_database_engine(url)
        self.postgres = is_postgres(self.db)
        self.has_database_clock = self.postgres
        # SQLite has one writer at a time anyway: a file database keeps one
        # connection for its write transactions, taken in turn under a lock,
        # instead of a pool checkout, reset and return per transaction.
        self._hold_writer = not self.postgres and isinstance(self.db.pool, sa.pool.QueuePool)
        self._writer: sa.Connection | None = None
        self._writer_lock = threading.Lock()
        self._writing = threading.local()
        self._items = ItemCache()
        self._grouped: GroupCommit[Callable[[StoreTransaction], None]] = GroupCommit(
            self._write_batch
        )

    def close(self) -> None:
        with self._writer_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        self.db.dispose()

    @contextmanager
    def write(self) -> Iterator[StoreTransaction]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite)."""
        if not self._hold_writer or getattr(self._writing, "active", False):
            with _translate_errors(), self.db.begin() as conn:
                tx = SqlAlchemyTransaction(conn, self.postgres, self._items)
                yield tx
            tx.commit_reads()
            return
        with self._writer_lock:
            self._writing.active = True
            try:
                if self._writer is None or self._writer.invalidated:
                    self._writer = self.db.connect()
                conn = self._writer
                with _translate_errors(), conn.begin():
                    tx = SqlAlchemyTransaction(conn, False, self._items)
                    yield tx
                tx.commit_reads()
            except sa.exc.DBAPIError:  # the driver failed: start over on a new connection
                self._discard_writer()
                raise
            finally:
                self._writing.active = False

    def write_grouped(self, work: Callable[[StoreTransaction], None]) -> None:
        """On SQLite concurrent callers' work shares one transaction (group commit): an
        audited read no longer costs a commit of its own behind the writer lock."""
        if self.postgres:
            super().write_grouped(work)
        else:
            self._grouped.submit(work)

    def _write_batch(self, works: Sequence[Callable[[StoreTransaction], None]]) -> None:
        with self.write() as tx:
            for work in works:
                work(tx)

    def _discard_writer(self) -> None:
        if self._writer is not None:
            with suppress(sa.exc.SQLAlchemyError):
                self._writer.close()
            self._writer = None

    @contextmanager
    def read(self) -> Iterator[StoreTransaction]:
        """A read-only transaction (deferred BEGIN on SQLite)."""
        with self.db.connect() as conn:
            conn = conn.execution_options(**READ)
            with conn.begin():
                tx = SqlAlchemyTransaction(conn, self.postgres, self._items)
                yield tx
            tx.commit_reads()

    @contextmanager
    def snapshot(self, *, write: bool = False) -> Iterator[StoreTransaction]:
        """REPEATABLE READ on PostgreSQL (its snapshot is taken at the first statement and
        kept to the end); on SQLite a WAL read transaction is one snapshot already, and a
        write one (``BEGIN IMMEDIATE``) sees no other writer."""
        with _translate_errors(), self.db.connect() as conn:
            options: dict[str, Any] = {} if write else dict(READ)
            if self.postgres:
                options["isolation_level"] = "REPEATABLE READ"
                if not write:
                    options["postgresql_readonly"] = True
            conn = conn.execution_options(**options)
            with conn.begin():
                yield SqlAlchemyTransaction(conn, self.postgres)

    def ensure_schema(self, upgrade: bool | None) -> None:
        head = revisions.shipped_head()
        if not upgrade and head is not None and revisions.database_revision(self.db) == head:
            return  # up to date, known without loading Alembic
        from engine.store import migrate

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
        from engine.store import migrate

        return migrate.current_revision(self.db), migrate.head_revision()


def open_store(url: str) -> SqlAlchemyStore:
    """The store for a database URL (``sqlite:///file.db``, ``postgresql://...``)."""
    return SqlAlchemyStore(url)


def upgrade_database(url: str, revision: str = "head") -> dict[str, str | None]:
    """``casework db upgrade``: the revision before, after, and the newest shipped."""
    from engine.store import migrate

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
    from engine.store import migrate

    db = create_database_engine(url, pool_size=1)
    try:
        return migrate.current_revision(db), migrate.head_revision()
    finally:
        db.dispose()
