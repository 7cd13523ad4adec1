"""The database schema as SQLAlchemy Core tables.

Alembic migrations in ``engine/store/migrations`` create exactly these tables;
a test compares the two. Every instant is stored timezone-aware in UTC: a
``timestamptz`` on PostgreSQL, a fixed-width ISO 8601 string on SQLite (so it
sorts and compares correctly as text).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC instant that round-trips exactly on every backend."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(32))
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError("UTCDateTime needs a timezone-aware datetime")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":  # fixed width, so text order is time order
            return value.isoformat(timespec="microseconds")
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        instant: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        if instant.tzinfo is None:
            return instant.replace(tzinfo=UTC)
        return instant.astimezone(UTC)


def _json() -> sa.JSON:
    # plain JSON (not JSONB): the text is kept as written, so hashes over it are stable
    return sa.JSON(none_as_null=True)


workflow_definitions = sa.Table(
    "workflow_definitions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("source_text", sa.Text, nullable=False),
    sa.Column("ir", _json(), nullable=False),
    sa.Column("registered_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("name", "version"),
)


def partial(column: str, present: bool = True) -> dict[str, Any]:
    """The dialect options of a partial index over the rows where ``column`` is (not) NULL."""
    where = sa.text(f"{column} IS NOT NULL" if present else f"{column} IS NULL")
    return {"sqlite_where": where, "postgresql_where": where}


cases = sa.Table(
    "cases",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("workflow_name", sa.String(200), nullable=False),
    sa.Column("workflow_version", sa.Integer, nullable=False),
    sa.Column("state", sa.String(200), nullable=False),
    sa.Column("phase", sa.String(40), nullable=False),
    sa.Column("record", _json(), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("previous_state", sa.String(200), nullable=True),
    sa.Column("state_entry_seq", sa.Integer, nullable=False),
    sa.Column("last_hash", sa.String(64), nullable=False),
    sa.Column("overdue_since", UTCDateTime, nullable=True),
    sa.Column("opened_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("closed_at", UTCDateTime, nullable=True),
    # Every listing is ordered by (opened_at, id): each filter has an index that
    # ends in those columns, so a page is an index range scan with LIMIT, first
    # or deep (keyset) alike. Partial indexes hold only the rows their predicate
    # selects: the few overdue cases; the open and the closed ones (a case is in
    # one, and moves once, when it closes). Revision 0010.
    sa.Index(None, "workflow_name", "opened_at", "id"),
    sa.Index(None, "workflow_name", "state", "opened_at", "id"),
    sa.Index(None, "state", "opened_at", "id"),
    sa.Index(None, "phase", "opened_at", "id"),
    sa.Index(None, "opened_at", "id"),
    sa.Index("ix_cases_overdue_opened_at_id", "opened_at", "id", **partial("overdue_since")),
    sa.Index("ix_cases_open_opened_at_id", "opened_at", "id", **partial("closed_at", False)),
    sa.Index("ix_cases_closed_opened_at_id", "opened_at", "id", **partial("closed_at")),
)

history = sa.Table(
    "history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.String(36), sa.ForeignKey("cases.id"), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("event", sa.String(200), nullable=False),
    sa.Column("from_state", sa.String(200), nullable=True),
    sa.Column("to_state", sa.String(200), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("roles", _json(), nullable=False),
    sa.Column("payload", _json(), nullable=False),
    sa.Column("idempotency_key", sa.String(200), nullable=True),
    sa.Column("workflow_version", sa.Integer, nullable=False),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
    sa.Column("outcome", sa.String(40), nullable=False),
    sa.Column("timer", sa.String(200), nullable=True),
    sa.Column("lateness_seconds", sa.Float, nullable=True),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    # sha256 of the case record after this row (revision 0002; NULL on older rows)
    sa.Column("record_hash", sa.String(64), nullable=True),
    # sha256 of the case's head (state, phase, closure...) after this row (revision 0009)
    sa.Column("head_hash", sa.String(64), nullable=True),
    # revision 0008: the API client that acted for ``actor`` (NULL: the actor acted itself),
    # and the row's place in the change feed, assigned under the change_counter row lock
    # so that feed order is commit order (see engine/store/change_queries.py)
    sa.Column("client", sa.String(200), nullable=True),
    sa.Column("change_seq", sa.BigInteger, nullable=True),
    # revision 0011: the work item an item event changed (NULL on case rows), its state
    # before (NULL when the row created it) and after; covered by the hash when set
    sa.Column("item_id", sa.String(64), nullable=True),
    sa.Column("item_from", sa.String(200), nullable=True),
    sa.Column("item_to", sa.String(200), nullable=True),
    sa.UniqueConstraint("case_id", "seq"),
    sa.Index(None, "change_seq", unique=True),
)

# revision 0008: one row (id 1) holding the last change_seq handed out
change_counter = sa.Table(
    "change_counter",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("last", sa.BigInteger, nullable=False),
)

# revision 0008: the business keys of each case (the record fields its workflow declares).
# ``open_unique`` is the workflow name while the case is open and the key is declared
# unique, else NULL: NULLs never collide in a unique index, so the constraint holds
# among open cases only (the same on SQLite and PostgreSQL).
case_keys = sa.Table(
    "case_keys",
    metadata,
    sa.Column("case_id", sa.String(36), sa.ForeignKey("cases.id"), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("workflow_name", sa.String(200), nullable=False),
    sa.Column("value", sa.String(500), nullable=False),
    sa.Column("open_unique", sa.String(200), nullable=True),
    sa.Index(None, "workflow_name", "name", "value"),
    sa.UniqueConstraint("open_unique", "name", "value"),
)

# revision 0013: cases linked by a transfer between workflows; each side's history row
# (source_seq: the closing row, target_seq: the opening row) names the other case
case_links = sa.Table(
    "case_links",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("source_case_id", sa.String(36), sa.ForeignKey("cases.id"), nullable=False),
    sa.Column("source_seq", sa.Integer, nullable=False),
    sa.Column("source_hash", sa.String(64), nullable=False),
    sa.Column("target_case_id", sa.String(36), sa.ForeignKey("cases.id"), nullable=False),
    sa.Column("target_seq", sa.Integer, nullable=False),
    sa.Column("target_hash", sa.String(64), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("source_case_id", "source_seq"),
    sa.UniqueConstraint("target_case_id", "target_seq"),
)

timers = sa.Table(
    "timers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.String(36), sa.ForeignKey("cases.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("event", sa.String(200), nullable=False),
    sa.Column("state", sa.String(200), nullable=False),
    sa.Column("state_entry_seq", sa.Integer, nullable=False),
    sa.Column("due_at", UTCDateTime, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("recurring", sa.Boolean, nullable=False),
    sa.Column("pausable", sa.Boolean, nullable=False),
    sa.Column("remaining_seconds", sa.Float, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("fired_at", UTCDateTime, nullable=True),
    # while paused: when the pause began and when the timer was due then (revision 0004)
    sa.Column("paused_at", UTCDateTime, nullable=True),
    sa.Column("paused_due_at", UTCDateTime, nullable=True),
    # failed firings: how many, and the last exception type (revision 0005)
    sa.Column("attempts", sa.Integer, nullable=False, default=0, server_default="0"),
    sa.Column("last_error", sa.String(200), nullable=True),
    # 'state' (a state's timer) or 'clock' (a case clock, across states) (revision 0006)
    sa.Column("scope", sa.String(16), nullable=False, default="state", server_default="state"),
    # revision 0011: the work item of an 'item' (item state timer) or 'item_clock' row
    sa.Column("item_id", sa.String(64), nullable=True),
    # the claim's order (due_at, id) as an index scan with LIMIT (revision 0003)
    sa.Index(None, "status", "due_at", "id"),
    sa.Index(None, "case_id", "status"),
)

# revision 0011: work items, records with a lifecycle of their own inside a case
# (engine/definitions/items.py). Every change of an item is a change of its case: the
# case row's version is bumped and a history row naming the item is appended.
case_items = sa.Table(
    "case_items",
    metadata,
    sa.Column("case_id", sa.String(36), sa.ForeignKey("cases.id"), primary_key=True),
    sa.Column("item_id", sa.String(64), primary_key=True),
    sa.Column("workflow_name", sa.String(200), nullable=False),
    sa.Column("type", sa.String(200), nullable=False),
    sa.Column("state", sa.String(200), nullable=False),
    sa.Column("data", _json(), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("opened_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("closed_at", UTCDateTime, nullable=True),
    sa.Column("opened_seq", sa.Integer, nullable=False),  # the history seq that created it
    sa.Column("state_entry_seq", sa.Integer, nullable=False),  # the seq that entered its state
    # items of a type in a state across cases (worklists), in opening order
    sa.Index(None, "workflow_name", "type", "state", "opened_at"),
    # cross-case item listings (Engine.find_items) and case search by item type/state,
    # each in the listing's keyset order (opened_at, case_id, item_id)
    sa.Index(None, "type", "state", "opened_at", "case_id", "item_id"),
    sa.Index(None, "type", "opened_at", "case_id", "item_id"),
    sa.Index(None, "opened_at", "case_id", "item_id"),
    sa.Index(
        "ix_case_items_open_opened_at",
        "opened_at",
        "case_id",
        "item_id",
        **partial("closed_at", False),
    ),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.String(36), sa.ForeignKey("cases.id"), nullable=False),
    sa.Column("history_seq", sa.Integer, nullable=False),
    sa.Column("action", sa.String(200), nullable=False),
    sa.Column("event", sa.String(200), nullable=False),
    sa.Column("workflow_name", sa.String(200), nullable=False),
    sa.Column("workflow_version", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", UTCDateTime, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # out-of-process delivery (revision 0007): the CEL-computed arguments, the
    # fencing token raised at each lease, the worker holding the lease
    sa.Column("arguments", _json(), nullable=True),
    sa.Column("lease_token", sa.Integer, nullable=False, default=0, server_default="0"),
    sa.Column("locked_by", sa.String(200), nullable=True),
    sa.Index(None, "status", "next_attempt_at"),
    sa.Index(None, "action", "status", "next_attempt_at"),
)

idempotency = sa.Table(
    "idempotency",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("case_id", sa.String(36), nullable=False),
    sa.Column("response", _json(), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

access_log = sa.Table(
    "access_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("case_id", sa.String(36), nullable=True),
    sa.Column("what", sa.String(200), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    # the access audit's hash chain (revision 0009): seq 1, 2, ... with no gaps
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    # revision 0008: the API client that acted for ``actor`` (NULL: the actor acted itself)
    sa.Column("client", sa.String(200), nullable=True),
    sa.Index(None, "case_id"),
    sa.UniqueConstraint("seq"),
)

audit_checkpoints = sa.Table(
    "audit_checkpoints",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("taken_at", UTCDateTime, nullable=False),
    sa.Column("heads", _json(), nullable=False),
    sa.Column("access_seq", sa.Integer, nullable=False),
    sa.Column("access_hash", sa.String(64), nullable=False),
    sa.Column("prev_digest", sa.String(64), nullable=False),
    sa.Column("signed", sa.Boolean, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
)

# revision 0012: the staff directory assignees come from (docs/ownership.md), kept by the
# API and by `casework staff import`; ``source`` says which ('api' or 'file')
staff = sa.Table(
    "staff",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("teams", _json(), nullable=False),
    sa.Column("roles", _json(), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("updated_by", sa.String(200), nullable=False),
)

# revision 0012: who holds each case that was ever assigned (the assignments themselves
# are history rows, event '@assign'). Partial indexes over the open rows: caseloads per
# assignee and per team from the index alone; one assignee's open cases for a worklist.
case_owners = sa.Table(
    "case_owners",
    metadata,
    sa.Column("case_id", sa.String(36), sa.ForeignKey("cases.id"), primary_key=True),
    sa.Column("workflow_name", sa.String(200), nullable=False),
    sa.Column("assignee", sa.String(200), nullable=True),
    sa.Column("team", sa.String(64), nullable=True),
    sa.Column("weight", sa.Float, nullable=False),
    sa.Column("opened_at", UTCDateTime, nullable=False),
    sa.Column("assigned_at", UTCDateTime, nullable=False),
    sa.Column("first_assigned_at", UTCDateTime, nullable=True),
    sa.Column("closed_at", UTCDateTime, nullable=True),
    sa.Index(
        "ix_case_owners_open_assignee",
        "assignee",
        "workflow_name",
        "weight",
        "case_id",
        "closed_at",  # always NULL here: named so that SQLite counts the index as covering
        **partial("closed_at", False),
    ),
    sa.Index(
        "ix_case_owners_open_team",
        "team",
        "workflow_name",
        "weight",
        "case_id",
        "closed_at",  # always NULL here: named so that SQLite counts the index as covering
        **partial("closed_at", False),
    ),
)
