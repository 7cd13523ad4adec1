"""What the runtime needs from storage: a :class:`CaseStore` and its :class:`StoreTransaction`.

Unit-of-work shaped: :meth:`CaseStore.write` and :meth:`CaseStore.read` are
context managers that yield a transaction; it commits when the block ends and
rolls back when it raises. Every method takes and returns the typed records
of :mod:`engine.store.records`, never rows or column names. Pure: no driver is
imported here, so the runtime can depend on this module alone; the SQLAlchemy
implementation is :mod:`engine.store.sqlalchemy_store`, loaded by
:func:`engine.store.open_store`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from engine.store.records import (
    AccessRecord,
    CaseKeyRecord,
    CaseLinkRecord,
    CaseloadRow,
    CaseQuery,
    CaseRecord,
    CaseSort,
    CheckpointRecord,
    ClaimedTimer,
    DefinitionRecord,
    HistoryRecord,
    IdempotencyRecord,
    ItemQuery,
    ItemRecord,
    OutboxRecord,
    OutboxStatus,
    OwnerRecord,
    StaffRecord,
    TimerRecord,
    TimerScope,
    TimerStatus,
    WorklistQuery,
    WorklistRow,
)


class StoreTransaction(ABC):
    """One open transaction. None of its methods commits."""

    # -- clock and definitions -----------------------------------------------------

    @abstractmethod
    def now(self) -> datetime:
        """The database's clock (used on PostgreSQL with the system clock). Raises nothing."""

    @abstractmethod
    def definitions(self) -> list[DefinitionRecord]:
        """Every registered workflow version, by name then version.

        Raises nothing beyond the driver's connection errors.
        """

    @abstractmethod
    def definitions_mark(self) -> tuple[int, int]:
        """(how many versions are registered, the newest row's id): changes whenever a
        version is registered. One cheap query; raises nothing beyond connection errors.
        """

    @abstractmethod
    def insert_definition(self, definition: DefinitionRecord) -> None:
        """Register one workflow version.

        Raises DuplicateKey (at the latest when the transaction ends) when
        another process registered the same name and version first.
        """

    # -- cases ------------------------------------------------------------------------

    @abstractmethod
    def lock_case(
        self, case_id: str, *, with_db_now: bool = False
    ) -> tuple[CaseRecord, datetime | None] | None:
        """The case, locked for this transaction, and the database's now if asked for.

        Returns None when there is no such case. Raises nothing else.
        """

    @abstractmethod
    def get_case(self, case_id: str) -> CaseRecord | None:
        """The case, or None. Raises nothing."""

    @abstractmethod
    def insert_case(self, case: CaseRecord, history: HistoryRecord) -> None:
        """Insert a new case and its first history row.

        Raises DuplicateKey when the id is taken.
        """

    @abstractmethod
    def advance_case(self, before: CaseRecord, after: CaseRecord, history: HistoryRecord) -> bool:
        """Replace ``before`` (as read, at ``before.version``) by ``after``; append ``history``.

        Returns False, writing nothing, when the stored case is no longer at
        ``before.version``. Raises DuplicateKey when the history row's seq is taken.
        """

    # -- continuity: importing and migrating cases in batches ---------------------------

    @abstractmethod
    def present_cases(self, case_ids: Sequence[str]) -> set[str]:
        """Which of ``case_ids`` exist. Raises nothing."""

    @abstractmethod
    def key_holders(self, workflow: str, name: str, values: Sequence[str]) -> dict[str, str]:
        """Value -> the open case holding it, for the values of a unique key that open
        cases of ``workflow`` hold. Raises nothing."""

    @abstractmethod
    def import_cases(
        self,
        cases: Sequence[tuple[CaseRecord, HistoryRecord]],
        keys: Sequence[CaseKeyRecord],
        timers: Sequence[TimerRecord],
    ) -> None:
        """Insert new cases, each with its first history row (feed positions in order),
        and their key rows and timers (``id`` None), a statement per table.

        Raises DuplicateKey (at the latest when the transaction ends) when an id or an
        open unique key value is taken.
        """

    @abstractmethod
    def lock_cases(self, case_ids: Sequence[str]) -> list[CaseRecord]:
        """Read and lock the cases of ``case_ids`` that exist (by id), for this
        transaction. Raises nothing."""

    @abstractmethod
    def cancel_timers_by_id(self, timer_ids: Sequence[int]) -> None:
        """Cancel these timers. Raises nothing."""

    @abstractmethod
    def migrate_cases(self, moves: Sequence[tuple[CaseRecord, CaseRecord, HistoryRecord]]) -> bool:
        """Like :meth:`advance_case` for each (before, after, history), and each
        ``after.workflow_version`` becomes its case's workflow version (a migration to
        another version of the workflow); a statement per table.

        Returns False when some case is no longer at its ``before.version`` (the caller
        must then roll the transaction back). Raises DuplicateKey on a taken history seq.
        """

    @abstractmethod
    def find_cases(
        self, query: CaseQuery, *, now: datetime, limit: int, after: tuple[datetime, str] | None
    ) -> list[CaseRecord]:
        """Cases matching every filter of ``query``, by (opened_at, id) after ``after``.

        Raises nothing.
        """

    @abstractmethod
    def search_cases(
        self,
        query: CaseQuery,
        *,
        now: datetime,
        sort: CaseSort,
        limit: int,
        after: tuple[datetime, str] | None,
    ) -> list[tuple[CaseRecord, datetime]]:
        """Cases matching ``query`` in ``sort`` order, each with the instant it sorts by,
        keyset-paged after (instant, id) ``after``. Raises nothing."""

    @abstractmethod
    def count_cases(self, query: CaseQuery, *, now: datetime) -> int:
        """How many cases match every filter of ``query``. Raises nothing."""

    # -- work items (revision 0011) ----------------------------------------------------

    @abstractmethod
    def find_items(
        self,
        query: ItemQuery,
        *,
        now: datetime,
        limit: int,
        after: tuple[datetime, str, str] | None,
    ) -> list[ItemRecord]:
        """Items of every case matching ``query``, by (opened_at, case_id, item_id) after
        ``after``. Raises nothing of its own."""

    @abstractmethod
    def count_items_matching(self, query: ItemQuery, *, now: datetime) -> int:
        """How many items match ``query``. Raises nothing of its own."""

    @abstractmethod
    def insert_item(self, item: ItemRecord) -> None:
        """Add a work item to its case (locked by the caller).

        Raises DuplicateKey (at the latest when the transaction ends) when the
        case already has an item with that id.
        """

    @abstractmethod
    def update_item(self, before: ItemRecord, after: ItemRecord) -> bool:
        """Replace ``before`` (as read, at ``before.version``) by ``after``.

        Returns False, writing nothing, when the stored item is no longer at
        ``before.version``. Raises nothing.
        """

    @abstractmethod
    def get_item(self, case_id: str, item_id: str) -> ItemRecord | None:
        """One item of a case, or None. Raises nothing."""

    @abstractmethod
    def items_of(
        self, case_id: str, *, item_type: str | None = None, state: str | None = None
    ) -> list[ItemRecord]:
        """The case's items (of a type, in a state), oldest first. Raises nothing."""

    @abstractmethod
    def items_for(self, case_ids: Sequence[str]) -> dict[str, list[ItemRecord]]:
        """The items of several cases, by case id, each list oldest first. Raises nothing."""

    @abstractmethod
    def count_items(self, case_id: str, item_type: str) -> int:
        """How many items of ``item_type`` the case holds (open and closed). Raises nothing."""

    @abstractmethod
    def cancel_item_timers(
        self, case_id: str, item_id: str | None, scopes: Sequence[TimerScope]
    ) -> int:
        """Cancel the pending and paused timer rows of ``scopes`` (item state timers,
        item clocks) of one item, or of every item of the case when ``item_id`` is None;
        returns how many. Raises nothing."""

    @abstractmethod
    def item_timers_of(self, case_id: str, item_id: str | None) -> list[TimerRecord]:
        """The pending and paused timer rows of one item (every item: None), by id.

        Raises nothing.
        """

    # -- history and audit ---------------------------------------------------------------

    @abstractmethod
    def history(self, case_id: str) -> list[HistoryRecord]:
        """The case's history rows by seq (empty for an unknown case). Raises nothing."""

    @abstractmethod
    def history_batches(self, case_id: str | None, batch: int = 1000) -> Iterator[HistoryRecord]:
        """Every history row (of one case, or all) by case id and seq, read in batches.

        Raises nothing.
        """

    @abstractmethod
    def case_heads(self, case_id: str | None) -> dict[str, CaseRecord]:
        """Case id -> the case as stored (where its chain must end), for the audit walk.

        Raises nothing.
        """

    @abstractmethod
    def access_head(self) -> tuple[int, str] | None:
        """The newest access-log row's (seq, hash), None for an empty log; the log is
        locked until this transaction ends, so the next row chains to this one.

        Raises nothing.
        """

    @abstractmethod
    def insert_access(self, access: AccessRecord) -> None:
        """Append to the access log (after :meth:`access_head` in this transaction).

        Raises DuplicateKey when the seq is taken.
        """

    @abstractmethod
    def access_batches(self, batch: int = 1000) -> Iterator[AccessRecord]:
        """Every access-log row by seq, read in batches. Raises nothing."""

    @abstractmethod
    def checkpoints(self) -> list[CheckpointRecord]:
        """Every audit checkpoint by id. Raises nothing."""

    @abstractmethod
    def insert_checkpoint(self, checkpoint: CheckpointRecord) -> None:
        """Store an audit checkpoint.

        Raises DuplicateKey when a concurrent checkpoint took the id first.
        """

    # -- idempotency ---------------------------------------------------------------------

    @abstractmethod
    def get_idempotency(self, key: str) -> IdempotencyRecord | None:
        """The stored result for an idempotency key, or None. Raises nothing."""

    @abstractmethod
    def insert_idempotency(self, entry: IdempotencyRecord) -> None:
        """Remember a result under its key.

        Raises DuplicateKey (at the latest when the transaction ends) when a
        concurrent request stored the same key first: retry, and replay it.
        """

    # -- timers --------------------------------------------------------------------------

    @abstractmethod
    def insert_timers(self, timers: Sequence[TimerRecord]) -> list[int]:
        """Insert timers (their ``id`` None); returns their ids in order. Raises nothing."""

    @abstractmethod
    def cancel_timers(self, case_id: str, statuses: tuple[TimerStatus, ...]) -> int:
        """Cancel the case's state timers in ``statuses`` (not its clocks); returns how many.

        Raises nothing.
        """

    @abstractmethod
    def cancel_timer(self, timer_id: int) -> None:
        """Cancel one timer. Raises nothing."""

    @abstractmethod
    def postpone_failed_timer(
        self, timer_id: int, due_at: datetime, attempts: int, last_error: str
    ) -> None:
        """Record a failed firing on a pending timer and make it due at ``due_at``.

        Raises nothing.
        """

    @abstractmethod
    def pause_timers(self, case_id: str, now: datetime, pausable_names: Sequence[str]) -> None:
        """Pause the case's pending state timers named (keeping the pause facts); cancel the
        other pending state timers (clocks are untouched).

        Raises nothing.
        """

    @abstractmethod
    def resume_timer(self, timer_id: int, due_at: datetime, state_entry_seq: int) -> None:
        """Make a paused timer pending again, due at ``due_at``. Raises nothing."""

    @abstractmethod
    def live_timers_of(self, case_id: str) -> list[TimerRecord]:
        """The case's pending and paused timers and overdue clocks, by id. Raises nothing."""

    @abstractmethod
    def live_timers_for(self, case_ids: Sequence[str]) -> dict[str, list[TimerRecord]]:
        """Pending and paused timers and overdue clocks of several cases, by case id.

        Raises nothing.
        """

    @abstractmethod
    def paused_timers_of(self, case_id: str) -> list[TimerRecord]:
        """The case's paused state timers. Raises nothing."""

    # -- case clocks (timer rows of scope 'clock') ----------------------------------------

    @abstractmethod
    def clock_timers_of(self, case_id: str) -> list[TimerRecord]:
        """The case's clock rows that are pending, paused or overdue, by id. Raises nothing."""

    @abstractmethod
    def end_clock_timers(self, timer_ids: Sequence[int]) -> None:
        """Stop clock rows: overdue ones become fired, pending and paused ones cancelled.

        Raises nothing.
        """

    @abstractmethod
    def pause_timer(self, timer_id: int, now: datetime, due_at: datetime) -> None:
        """Pause one pending timer that was due at ``due_at`` (keeping the pause facts).

        Raises nothing.
        """

    @abstractmethod
    def claim_next_due_timer(self, now: datetime | None) -> ClaimedTimer | None:
        """Claim the oldest due pending timer whose case is not locked: mark it fired
        (a one-shot case clock: overdue, until its clock is stopped or restarted).

        ``now`` None judges due-ness by the database clock. Returns the timer
        (as fired), its locked case and the instant, or None when nothing is
        due. Raises nothing.
        """

    @abstractmethod
    def next_timer_due(self) -> datetime | None:
        """When the earliest pending timer is due, or None. Raises nothing."""

    @abstractmethod
    def list_timers(
        self,
        *,
        case_id: str | None,
        status: str | None,
        due_before: datetime | None,
        limit: int,
        after_id: int | None,
    ) -> list[TimerRecord]:
        """Timers matching every filter given, by id after ``after_id``. Raises nothing."""

    # -- outbox --------------------------------------------------------------------------

    @abstractmethod
    def insert_outbox(self, items: Sequence[OutboxRecord]) -> None:
        """Queue actions (their ``id`` None). Raises nothing."""

    @abstractmethod
    def claim_outbox(
        self,
        now: datetime,
        limit: int,
        *,
        only: Sequence[str] | None = None,
        skip: Sequence[str] = (),
    ) -> list[OutboxRecord]:
        """Lock pending items due at ``now`` (passing over locked ones), oldest first.

        ``only`` restricts to those action names, ``skip`` leaves those out.
        Raises nothing.
        """

    @abstractmethod
    def get_outbox(self, item_id: int, *, lock: bool = False) -> OutboxRecord | None:
        """One item, or None; locked for this transaction with ``lock``. Raises nothing."""

    @abstractmethod
    def lease_outbox(
        self,
        item_id: int,
        attempts: int,
        until: datetime,
        *,
        lease_token: int | None = None,
        worker: str | None = None,
    ) -> None:
        """Count an attempt and hold the item until ``until``.

        ``lease_token`` (when given) becomes the item's fencing token;
        ``worker`` names the holder. Raises nothing.
        """

    @abstractmethod
    def lease_outbox_batch(
        self, item_ids: Sequence[int], until: datetime, *, worker: str | None = None
    ) -> None:
        """For each item: count an attempt, raise its fencing token by one, hold it until
        ``until`` for ``worker``. Raises nothing."""

    @abstractmethod
    def settle_outbox_batch(
        self,
        outcomes: Sequence[tuple[int, int, OutboxStatus, str | None, datetime | None]],
    ) -> None:
        """Record (id, lease token, status, last error, next attempt) for each item, each
        only while the token is still the pending item's (fencing). Raises nothing."""

    @abstractmethod
    def extend_outbox_lease(self, item_id: int, lease_token: int, until: datetime) -> bool:
        """Hold a pending item until ``until`` if ``lease_token`` is still its token.

        Returns False, writing nothing, when the lease was taken over or the
        item settled. Raises nothing.
        """

    @abstractmethod
    def settle_outbox(
        self,
        item_id: int,
        status: OutboxStatus,
        last_error: str | None,
        next_attempt_at: datetime | None,
        *,
        lease_token: int | None = None,
    ) -> bool:
        """Record how an attempt ended.

        With ``lease_token``, only while it is still the pending item's token
        (fencing): returns False, writing nothing, otherwise. Raises nothing.
        """

    @abstractmethod
    def reset_outbox(self, item_id: int, now: datetime) -> None:
        """Make an item pending and due at ``now`` with a fresh retry budget. Raises nothing."""

    @abstractmethod
    def list_outbox(
        self, *, status: str | None, limit: int, after_id: int | None
    ) -> list[OutboxRecord]:
        """Items with ``status`` (any when None), by id after ``after_id``. Raises nothing."""

    # -- stats ---------------------------------------------------------------------------

    @abstractmethod
    def stats(self, now: datetime) -> dict[str, Any]:
        """Counts for :class:`engine.runtime.views.EngineStats`, by its field names.

        Raises nothing.
        """

    # -- change feed and business keys (revision 0008) -------------------------------

    @abstractmethod
    def changes_after(
        self, after: int, *, workflow: str | None, limit: int
    ) -> list[tuple[str, HistoryRecord]]:
        """(workflow name, history row) with ``change_seq`` above ``after``, in feed order.

        Feed order is commit order: a row that becomes visible later never has a
        smaller ``change_seq`` than one visible now. Raises nothing.
        """

    @abstractmethod
    def last_change_seq(self) -> int:
        """The newest committed feed position, 0 when there is none. Raises nothing."""

    @abstractmethod
    def replace_case_keys(self, case_id: str, keys: Sequence[CaseKeyRecord]) -> None:
        """Make ``keys`` the case's business keys.

        Raises DuplicateKey (at the latest when the transaction ends) when a
        unique key value is held by another open case.
        """

    @abstractmethod
    def key_holder(self, workflow: str, name: str, value: str) -> str | None:
        """The id of the open case holding a unique key value, or None. Raises nothing."""

    @abstractmethod
    def cases_with_keys(
        self, workflow: str | None, keys: Sequence[tuple[str, str]], *, open_only: bool, limit: int
    ) -> list[str]:
        """Ids of the cases with every (key name, value) given, by id. Raises nothing."""

    # -- ownership (revision 0012) ---------------------------------------------------

    @abstractmethod
    def get_staff(self, person: str) -> StaffRecord | None:
        """The directory entry of ``person``, or None. Raises nothing."""

    @abstractmethod
    def list_staff(self, *, limit: int, after: str | None) -> list[StaffRecord]:
        """Directory entries by id after ``after``. Raises nothing."""

    @abstractmethod
    def put_staff(self, staff: StaffRecord) -> None:
        """Insert or replace a directory entry. Raises DuplicateKey when a concurrent
        transaction inserted the same id first."""

    @abstractmethod
    def get_owner(self, case_id: str) -> OwnerRecord | None:
        """Who holds the case (None: never assigned). Raises nothing."""

    @abstractmethod
    def put_owner(self, owner: OwnerRecord) -> None:
        """Insert or replace the case's owner row (the case locked by the caller).

        Raises nothing beyond the driver's errors."""

    @abstractmethod
    def sync_owner(self, case_id: str, weight: float, closed_at: datetime | None) -> None:
        """Keep the case's owner row (if any) in step: its weight and closure. Raises nothing."""

    @abstractmethod
    def owned_cases(
        self,
        *,
        assignee: str | None,
        team: str | None,
        workflow: str | None,
        limit: int,
        after: str | None,
    ) -> list[str]:
        """Ids of the open cases held by ``assignee`` and/or ``team``, by id. Raises nothing."""

    @abstractmethod
    def caseloads(self, by: str, holders: Sequence[str] | None = None) -> list[CaseloadRow]:
        """Open cases and summed weight per (assignee or team, workflow). Raises nothing."""

    @abstractmethod
    def worklist(
        self,
        query: WorklistQuery,
        *,
        now: datetime,
        limit: int,
        after: tuple[datetime, str, int] | None,
    ) -> list[WorklistRow]:
        """The deadlines of the cases in scope by (due_at, source, ref) after ``after``.

        Raises nothing."""

    @abstractmethod
    def ownership_stats(self, now: datetime) -> dict[str, Any]:
        """Counts for the ownership metrics (engine/runtime/ownership.py). Raises nothing."""

    @abstractmethod
    def insert_case_link(self, link: CaseLinkRecord) -> None:
        """Record two linked cases (revision 0013).

        Raises DuplicateKey (at the latest when the transaction ends) when either
        history row already has a link.
        """

    @abstractmethod
    def case_links(self, case_id: str) -> list[CaseLinkRecord]:
        """The links the case is the source or the target of, oldest first. Raises nothing."""

    @abstractmethod
    def link_batches(self, batch: int = 1000) -> Iterator[CaseLinkRecord]:
        """Every link, oldest first, read in batches (the audit walk). Raises nothing."""


class CaseStore(ABC):
    """A database holding cases, their history, timers, outbox and definitions."""

    #: True when the database has a clock of its own to judge "now" by (PostgreSQL).
    has_database_clock: bool = False

    @abstractmethod
    def write(self) -> AbstractContextManager[StoreTransaction]:
        """A write transaction (the single writer on SQLite; row locks on PostgreSQL).

        Raises DuplicateKey when a unique key was taken by a concurrent
        transaction (on any statement or at commit); the transaction is then
        rolled back.
        """

    @abstractmethod
    def read(self) -> AbstractContextManager[StoreTransaction]:
        """A read-only transaction. Raises nothing beyond connection errors."""

    @abstractmethod
    def snapshot(self, *, write: bool = False) -> AbstractContextManager[StoreTransaction]:
        """A transaction whose every statement sees one consistent snapshot of the
        database (REPEATABLE READ on PostgreSQL; one transaction on SQLite's WAL), for
        audit walks that must not see writes committed while they run. ``write`` allows
        inserts (an audit checkpoint).

        Raises DuplicateKey like :meth:`write`; nothing else beyond connection errors.
        """

    @abstractmethod
    def ensure_schema(self, upgrade: bool | None) -> None:
        """Bring the schema to the newest revision, or check it is there.

        ``upgrade`` True always upgrades; None upgrades an empty database only;
        False only checks. Raises SchemaOutOfDate when the schema is behind and
        may not be upgraded.
        """

    @abstractmethod
    def schema_status(self) -> tuple[str | None, str]:
        """(the database's schema revision or None, the newest this version ships).

        Raises the driver's error when the database cannot be reached.
        """

    def write_grouped(self, work: Callable[[StoreTransaction], None]) -> None:
        """Run ``work`` in a write transaction, committed when this returns.

        An implementation may run the work of concurrent callers in one
        transaction (group commit: one commit for a burst of audited reads);
        each caller still returns only once its work is durable. Raises what
        the transaction raised (every caller of a failed batch gets it).
        """
        with self.write() as tx:
            work(tx)

    @abstractmethod
    def close(self) -> None:
        """Release every connection. Raises nothing."""
