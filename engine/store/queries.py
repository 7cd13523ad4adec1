"""Every SQL statement Casework issues, and nothing else.

The runtime calls these functions inside transactions it opens with
:meth:`Store.write` (``BEGIN IMMEDIATE`` on SQLite; row locks on PostgreSQL)
or :meth:`Store.read`. Functions take the open connection first; none of them
commits.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa

from engine.store import tables as t
from engine.store.database import READ, create_database_engine, is_postgres

Row = Mapping[str, Any]

CASE_COLUMNS = (
    t.cases.c.id,
    t.cases.c.workflow_name,
    t.cases.c.workflow_version,
    t.cases.c.state,
    t.cases.c.phase,
    t.cases.c.record,
    t.cases.c.version,
    t.cases.c.previous_state,
    t.cases.c.state_entry_seq,
    t.cases.c.last_hash,
    t.cases.c.overdue_since,
    t.cases.c.opened_at,
    t.cases.c.updated_at,
    t.cases.c.closed_at,
)


# Hot-path statements built once: values travel as parameters, so SQLAlchemy's
# compiled-statement cache is hit instead of building a cache key per value.
_SELECT_CASE = sa.select(*CASE_COLUMNS).where(t.cases.c.id == sa.bindparam("_id"))
_SELECT_CASE_NOW = sa.select(*CASE_COLUMNS, sa.func.now().label("db_now")).where(
    t.cases.c.id == sa.bindparam("_id")
)
_UPDATE_CASE = sa.update(t.cases).where(
    t.cases.c.id == sa.bindparam("_id"), t.cases.c.version == sa.bindparam("_expected")
)
_INSERT_CASE = sa.insert(t.cases)
_INSERT_HISTORY = sa.insert(t.history)
_INSERT_TIMER = sa.insert(t.timers)
_INSERT_TIMERS = sa.insert(t.timers).returning(t.timers.c.id, sort_by_parameter_order=True)
_INSERT_OUTBOX = sa.insert(t.outbox)


def _status_in(statuses: tuple[str, ...]) -> sa.ColumnElement[bool]:
    # OR of equalities: a fixed IN list would be an "expanding" parameter re-rendered per call
    return sa.or_(*(t.timers.c.status == s for s in statuses))


_CANCEL_TIMERS: dict[tuple[str, ...], sa.Update] = {
    statuses: sa.update(t.timers)
    .where(t.timers.c.case_id == sa.bindparam("_case"), _status_in(statuses))
    .values(status="cancelled")
    for statuses in (("pending",), ("pending", "paused"))
}
_SELECT_LIVE_TIMERS = (
    sa.select(t.timers)
    .where(t.timers.c.case_id == sa.bindparam("_case"), _status_in(("pending", "paused")))
    .order_by(t.timers.c.id)
)
_UPDATE_TIMER = sa.update(t.timers).where(t.timers.c.id == sa.bindparam("_tid"))
_SELECT_IDEMPOTENCY = sa.select(t.idempotency).where(t.idempotency.c.key == sa.bindparam("_key"))


# Columns a change may set on the case row (always all of them, so one compiled statement).
CASE_MUTABLE = (
    "state",
    "phase",
    "record",
    "version",
    "previous_state",
    "state_entry_seq",
    "last_hash",
    "overdue_since",
    "updated_at",
    "closed_at",
)
HISTORY_COLUMNS = tuple(c.name for c in t.history.c if c.name != "id")
_ALWAYS_SET = frozenset(("version", "last_hash", "updated_at"))


def _advance_statement() -> sa.Insert:
    """PostgreSQL: update the case (version-checked) and append its history row in one
    statement: ``WITH u AS (UPDATE cases ... RETURNING id) INSERT INTO history ... FROM u``.
    No history row is inserted when the version check fails (rowcount 0)."""
    upd = (
        sa.update(t.cases)
        .where(t.cases.c.id == sa.bindparam("_id"), t.cases.c.version == sa.bindparam("_expected"))
        .values({c: sa.bindparam(f"c_{c}", type_=t.cases.c[c].type) for c in CASE_MUTABLE})
        .returning(t.cases.c.id)
        .cte("advanced")
    )
    rows = sa.select(
        *(sa.bindparam(f"h_{c}", type_=t.history.c[c].type) for c in HISTORY_COLUMNS)
    ).select_from(upd)
    stmt = sa.insert(t.history).add_cte(upd).from_select(list(HISTORY_COLUMNS), rows)
    # rowcount of an INSERT is only kept when asked for (SQLAlchemy 2.x)
    return stmt.execution_options(preserve_rowcount=True)


_ADVANCE_CASE = _advance_statement()


def _first(result: sa.CursorResult[Any]) -> Row | None:
    return cast(Row | None, result.mappings().first())


def _all(result: sa.CursorResult[Any]) -> list[Row]:
    return cast(list[Row], list(result.mappings()))


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    try:
        pad = "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(cursor + pad))
        if not isinstance(values, list):
            raise ValueError("cursor is not a list")
        return values
    except (ValueError, TypeError) as exc:
        raise ValueError("invalid cursor") from exc


class Store:
    """The database: connections, transactions and every query."""

    def __init__(self, url: str) -> None:
        self.db = create_database_engine(url)
        self.postgres = is_postgres(self.db)
        self._lock_case: dict[tuple[bool, bool], sa.Select[Any]] = {}
        for with_now in (False, True):
            for skip in (False, True):
                q = _SELECT_CASE_NOW if with_now else _SELECT_CASE
                if self.postgres:
                    q = q.with_for_update(of=t.cases, skip_locked=skip)
                self._lock_case[(with_now, skip)] = q
        self._select_due = {db: self._build_select_due(db) for db in (False, True)}
        self._claim_timer = {db: self._build_claim(db) for db in (False, True)}

    def close(self) -> None:
        self.db.dispose()

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite)."""
        with self.db.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """A read-only transaction (deferred BEGIN on SQLite)."""
        with self.db.connect() as conn:
            conn = conn.execution_options(**READ)
            with conn.begin():
                yield conn

    def db_now(self, conn: sa.Connection) -> datetime:
        value = conn.execute(sa.select(sa.func.now())).scalar_one()
        assert isinstance(value, datetime)
        return value

    # -- definitions -------------------------------------------------------------

    def definitions(self, conn: sa.Connection) -> list[Row]:
        q = sa.select(t.workflow_definitions).order_by(
            t.workflow_definitions.c.name, t.workflow_definitions.c.version
        )
        return _all(conn.execute(q))

    def insert_definition(self, conn: sa.Connection, values: Mapping[str, Any]) -> None:
        conn.execute(sa.insert(t.workflow_definitions).values(**values))

    # -- cases -------------------------------------------------------------------

    def lock_case(
        self,
        conn: sa.Connection,
        case_id: str,
        *,
        with_db_now: bool = False,
        skip_locked: bool = False,
    ) -> Row | None:
        """The case row, locked for this transaction (FOR UPDATE on PostgreSQL).

        With ``skip_locked`` a case another transaction holds comes back as None.
        """
        q = self._lock_case[(with_db_now, skip_locked)]
        return _first(conn.execute(q, {"_id": case_id}))

    def get_case(self, conn: sa.Connection, case_id: str) -> Row | None:
        return _first(conn.execute(_SELECT_CASE, {"_id": case_id}))

    def insert_case(self, conn: sa.Connection, values: Mapping[str, Any]) -> None:
        conn.execute(_INSERT_CASE, dict(values))

    def update_case(
        self, conn: sa.Connection, case_id: str, expected_version: int, values: Mapping[str, Any]
    ) -> bool:
        """Update if the row is still at ``expected_version``; False if it is not."""
        params = {"_id": case_id, "_expected": expected_version, **values}
        return conn.execute(_UPDATE_CASE, params).rowcount == 1

    def find_cases(
        self,
        conn: sa.Connection,
        *,
        workflow: str | None,
        state: str | None,
        phase: str | None,
        overdue: bool | None,
        opened_after: datetime | None,
        opened_before: datetime | None,
        closed: bool | None,
        now: datetime,
        limit: int,
        after: tuple[datetime, str] | None,
    ) -> list[Row]:
        c = t.cases.c
        q = sa.select(*CASE_COLUMNS)
        if workflow is not None:
            q = q.where(c.workflow_name == workflow)
        if state is not None:
            q = q.where(c.state == state)
        if phase is not None:
            q = q.where(c.phase == phase)
        if opened_after is not None:
            q = q.where(c.opened_at >= opened_after)
        if opened_before is not None:
            q = q.where(c.opened_at < opened_before)
        if closed is not None:
            q = q.where(c.closed_at.is_not(None) if closed else c.closed_at.is_(None))
        if overdue is not None:
            late_timer = (
                sa.select(t.timers.c.id)
                .where(
                    t.timers.c.case_id == c.id,
                    t.timers.c.status == "pending",
                    t.timers.c.due_at <= now,
                )
                .exists()
            )
            cond = sa.or_(c.overdue_since.is_not(None), late_timer)
            q = q.where(cond if overdue else sa.not_(cond))
        if after is not None:
            q = q.where(
                sa.tuple_(c.opened_at, c.id)
                > sa.tuple_(sa.literal(after[0], t.UTCDateTime), after[1])
            )
        q = q.order_by(c.opened_at, c.id).limit(limit)
        return _all(conn.execute(q))

    def advance_case(
        self,
        conn: sa.Connection,
        case_id: str,
        expected_version: int,
        values: Mapping[str, Any],
        history_row: Mapping[str, Any],
        *,
        before: Mapping[str, Any] | None = None,
    ) -> bool:
        """Update the case at ``expected_version`` and insert its history row.

        ``values`` must hold every ``CASE_MUTABLE`` column. One round trip on
        PostgreSQL; returns False (nothing written) when the version moved on.
        On SQLite, given the row as read (``before``), only the columns whose
        value changed are set: SQLite rewrites every index over a column named
        in SET, changed or not (state, phase, overdue_since, closed_at), which
        made each internal transition or timer firing touch four indexes.
        """
        if self.postgres:
            params = {"_id": case_id, "_expected": expected_version}
            params.update({f"c_{c}": values[c] for c in CASE_MUTABLE})
            params.update({f"h_{c}": history_row[c] for c in HISTORY_COLUMNS})
            return conn.execute(_ADVANCE_CASE, params).rowcount == 1
        if before is not None:
            values = {c: v for c, v in values.items() if c in _ALWAYS_SET or before.get(c) != v}
        if not self.update_case(conn, case_id, expected_version, values):
            return False
        self.insert_history(conn, history_row)
        return True

    # -- history -----------------------------------------------------------------

    def insert_history(self, conn: sa.Connection, values: Mapping[str, Any]) -> None:
        conn.execute(_INSERT_HISTORY, dict(values))

    def history(self, conn: sa.Connection, case_id: str) -> list[Row]:
        q = sa.select(t.history).where(t.history.c.case_id == case_id).order_by(t.history.c.seq)
        return _all(conn.execute(q))

    def history_batches(
        self, conn: sa.Connection, case_id: str | None, batch: int = 1000
    ) -> Iterator[Row]:
        """Every history row ordered by case and seq, read in keyset batches."""
        h = t.history.c
        last: tuple[str, int] | None = None
        while True:
            q = sa.select(t.history)
            if case_id is not None:
                q = q.where(h.case_id == case_id)
            if last is not None:
                q = q.where(sa.tuple_(h.case_id, h.seq) > sa.tuple_(sa.literal(last[0]), last[1]))
            rows = _all(conn.execute(q.order_by(h.case_id, h.seq).limit(batch)))
            if not rows:
                return
            yield from rows
            last = (rows[-1]["case_id"], rows[-1]["seq"])

    def case_heads(
        self, conn: sa.Connection, case_id: str | None
    ) -> dict[str, tuple[int, str, Any]]:
        """case id -> (version, last_hash, record) for the audit walk."""
        q = sa.select(t.cases.c.id, t.cases.c.version, t.cases.c.last_hash, t.cases.c.record)
        if case_id is not None:
            q = q.where(t.cases.c.id == case_id)
        return {r.id: (r.version, r.last_hash, r.record) for r in conn.execute(q)}

    # -- idempotency -------------------------------------------------------------

    def get_idempotency(self, conn: sa.Connection, key: str) -> Row | None:
        return _first(conn.execute(_SELECT_IDEMPOTENCY, {"_key": key}))

    def insert_idempotency(self, conn: sa.Connection, values: Mapping[str, Any]) -> None:
        conn.execute(sa.insert(t.idempotency), dict(values))

    # -- timers ------------------------------------------------------------------

    def insert_timers(self, conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        if not rows:
            return []
        if len(rows) == 1:  # the usual case: the driver's lastrowid, no RETURNING
            key = conn.execute(_INSERT_TIMER, dict(rows[0])).inserted_primary_key
            assert key is not None
            return [int(key[0])]
        res = conn.execute(_INSERT_TIMERS, [dict(r) for r in rows])
        return [int(x) for x in res.scalars()]

    def cancel_timers(
        self, conn: sa.Connection, case_id: str, statuses: tuple[str, ...] = ("pending",)
    ) -> int:
        """Cancel the case's timers in ``statuses`` (("pending",) or ("pending", "paused"))."""
        res = conn.execute(_CANCEL_TIMERS[tuple(statuses)], {"_case": case_id})
        return int(res.rowcount)

    def pending_timers_of(self, conn: sa.Connection, case_id: str) -> list[Row]:
        return _all(conn.execute(_SELECT_LIVE_TIMERS, {"_case": case_id}))

    def pending_timers_for(
        self, conn: sa.Connection, case_ids: Sequence[str]
    ) -> dict[str, list[Row]]:
        out: dict[str, list[Row]] = {}
        if not case_ids:
            return out
        q = (
            sa.select(t.timers)
            .where(
                t.timers.c.case_id.in_(list(case_ids)), t.timers.c.status.in_(("pending", "paused"))
            )
            .order_by(t.timers.c.id)
        )
        for r in _all(conn.execute(q)):
            out.setdefault(r["case_id"], []).append(r)
        return out

    def pause_timers(
        self, conn: sa.Connection, case_id: str, now: datetime, pausable_names: Sequence[str]
    ) -> None:
        """Pause the case's pending timers named; cancel its other pending timers."""
        rows = conn.execute(
            sa.select(t.timers.c.id, t.timers.c.name, t.timers.c.due_at).where(
                t.timers.c.case_id == case_id, t.timers.c.status == "pending"
            )
        ).all()
        for r in rows:
            if r.name in pausable_names and r.due_at is not None:
                remaining = max(0.0, (r.due_at - now).total_seconds())
                values: dict[str, Any] = {
                    "status": "paused",
                    "remaining_seconds": remaining,  # for the operator view
                    "paused_at": now,  # these two are what resuming uses
                    "paused_due_at": r.due_at,
                    "due_at": None,
                }
            else:
                values = {"status": "cancelled"}
            conn.execute(sa.update(t.timers).where(t.timers.c.id == r.id).values(**values))

    def paused_timers_of(self, conn: sa.Connection, case_id: str) -> list[Row]:
        q = sa.select(t.timers).where(t.timers.c.case_id == case_id, t.timers.c.status == "paused")
        return _all(conn.execute(q))

    def update_timer(self, conn: sa.Connection, timer_id: int, values: Mapping[str, Any]) -> None:
        conn.execute(_UPDATE_TIMER, {"_tid": timer_id, **values})

    def claim_next_due_timer(
        self, conn: sa.Connection, now: datetime | None
    ) -> tuple[Row, Row] | None:
        """Claim the oldest due pending timer: lock it and its case, mark it fired.

        On PostgreSQL one statement: ``WITH claimed AS (SELECT ... FOR UPDATE
        OF timers, cases SKIP LOCKED LIMIT 1) UPDATE timers SET status='fired'
        ... RETURNING``, so a timer whose case another transaction holds (a
        ``send`` in flight, another worker) is passed over, not waited for.
        On SQLite (already the only writer) a select and an update. ``now``
        None judges due-ness by the database clock (returned as ``db_now``).
        Returns (timer row, case row), or None when nothing is due.
        """
        params: dict[str, Any] = {} if now is None else {"_now": now}
        if self.postgres:
            row = _first(conn.execute(self._claim_timer[now is None], params))
        else:
            row = _first(conn.execute(self._select_due[now is None], params))
            if row is not None:
                fired = {"status": "fired", "fired_at": now if now is not None else row["db_now"]}
                self.update_timer(conn, int(row["id"]), fired)
                row = {**row, **fired}
        if row is None:
            return None
        timer = {c.name: row[c.name] for c in t.timers.c}
        if now is None:
            timer["db_now"] = row["db_now"]
        case = {c.name: row[f"c_{c.name}"] for c in CASE_COLUMNS}
        return timer, case

    def _build_select_due(self, db_clock: bool) -> sa.Select[Any]:
        due = sa.func.now() if db_clock else sa.bindparam("_now", type_=t.UTCDateTime)
        cols: list[Any] = [t.timers, *(c.label(f"c_{c.name}") for c in CASE_COLUMNS)]
        if db_clock:
            cols.append(sa.func.now().label("db_now"))
        q = (
            sa.select(*cols)
            .join_from(t.timers, t.cases, t.cases.c.id == t.timers.c.case_id)
            .where(t.timers.c.status == "pending", t.timers.c.due_at <= due)
            .order_by(t.timers.c.due_at, t.timers.c.id)
            .limit(1)
        )
        if self.postgres:
            q = q.with_for_update(skip_locked=True, of=(t.timers, t.cases))
        return q

    def _build_claim(self, db_clock: bool) -> sa.Update:
        claimed = self._build_select_due(db_clock).cte("claimed")
        fired_at = sa.func.now() if db_clock else sa.bindparam("_now", type_=t.UTCDateTime)
        returning: list[Any] = [*t.timers.c, *(claimed.c[f"c_{c.name}"] for c in CASE_COLUMNS)]
        if db_clock:
            returning.append(claimed.c.db_now)
        return (
            sa.update(t.timers)
            .where(t.timers.c.id == claimed.c.id)
            .values(status="fired", fired_at=fired_at)
            .returning(*returning)
        )

    def next_timer_due(self, conn: sa.Connection) -> datetime | None:
        q = sa.select(sa.func.min(t.timers.c.due_at)).where(t.timers.c.status == "pending")
        value = conn.execute(q).scalar()
        return t.UTCDateTime().process_result_value(value, conn.dialect)

    def list_timers(
        self,
        conn: sa.Connection,
        *,
        case_id: str | None,
        status: str | None,
        due_before: datetime | None,
        limit: int,
        after_id: int | None,
    ) -> list[Row]:
        q = sa.select(t.timers)
        if case_id is not None:
            q = q.where(t.timers.c.case_id == case_id)
        if status is not None:
            q = q.where(t.timers.c.status == status)
        if due_before is not None:
            q = q.where(t.timers.c.due_at < due_before)
        if after_id is not None:
            q = q.where(t.timers.c.id > after_id)
        return _all(conn.execute(q.order_by(t.timers.c.id).limit(limit)))

    # -- outbox ------------------------------------------------------------------

    def insert_outbox(self, conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            conn.execute(_INSERT_OUTBOX, [dict(r) for r in rows])

    def claim_outbox(self, conn: sa.Connection, now: datetime, limit: int) -> list[Row]:
        """Lock pending outbox rows whose time has come (SKIP LOCKED on PostgreSQL)."""
        q = (
            sa.select(t.outbox)
            .where(t.outbox.c.status == "pending", t.outbox.c.next_attempt_at <= now)
            .order_by(t.outbox.c.next_attempt_at, t.outbox.c.id)
            .limit(limit)
        )
        if self.postgres:
            q = q.with_for_update(skip_locked=True)
        return _all(conn.execute(q))

    def get_outbox(self, conn: sa.Connection, item_id: int, *, lock: bool = False) -> Row | None:
        q = sa.select(t.outbox).where(t.outbox.c.id == item_id)
        if lock and self.postgres:
            q = q.with_for_update()
        return _first(conn.execute(q))

    def update_outbox(self, conn: sa.Connection, item_id: int, values: Mapping[str, Any]) -> None:
        conn.execute(sa.update(t.outbox).where(t.outbox.c.id == item_id).values(**values))

    def list_outbox(
        self, conn: sa.Connection, *, status: str | None, limit: int, after_id: int | None
    ) -> list[Row]:
        q = sa.select(t.outbox)
        if status is not None:
            q = q.where(t.outbox.c.status == status)
        if after_id is not None:
            q = q.where(t.outbox.c.id > after_id)
        return _all(conn.execute(q.order_by(t.outbox.c.id).limit(limit)))

    # -- access log --------------------------------------------------------------

    def insert_access(self, conn: sa.Connection, values: Mapping[str, Any]) -> None:
        conn.execute(sa.insert(t.access_log).values(**values))

    # -- stats -------------------------------------------------------------------

    def stats(self, conn: sa.Connection, now: datetime) -> dict[str, Any]:
        c = t.cases.c
        by_state = {
            (r.workflow_name, r.state): int(r.n)
            for r in conn.execute(
                sa.select(c.workflow_name, c.state, sa.func.count().label("n")).group_by(
                    c.workflow_name, c.state
                )
            )
        }
        open_cases = conn.execute(
            sa.select(sa.func.count()).select_from(t.cases).where(c.closed_at.is_(None))
        ).scalar_one()
        tm = t.timers.c
        timer_counts: dict[str, int] = dict(
            conn.execute(
                sa.select(tm.status, sa.func.count())
                .where(tm.status.in_(("pending", "paused")))
                .group_by(tm.status)
            ).all()
        )
        overdue = conn.execute(
            sa.select(sa.func.count()).where(tm.status == "pending", tm.due_at <= now)
        ).scalar_one()
        ob = t.outbox.c
        outbox_counts: dict[str, int] = dict(
            conn.execute(
                sa.select(ob.status, sa.func.count())
                .where(ob.status.in_(("pending", "dead")))
                .group_by(ob.status)
            ).all()
        )
        return {
            "cases_by_state": by_state,
            "open_cases": int(open_cases),
            "pending_timers": int(timer_counts.get("pending", 0)),
            "paused_timers": int(timer_counts.get("paused", 0)),
            "overdue_timers": int(overdue),
            "oldest_pending_due": self.next_timer_due(conn),
            "outbox_pending": int(outbox_counts.get("pending", 0)),
            "outbox_dead": int(outbox_counts.get("dead", 0)),
        }
