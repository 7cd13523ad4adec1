"""case_items: work items inside a case; timers and history rows that name an item

A work item (a referral, an authorization, a goal...) is a record with a
lifecycle of its own inside a case (engine/definitions/items.py). Its rows are
in ``case_items`` (primary key (case_id, item_id)); its state timers and
clocks are rows of ``timers`` with scope 'item' or 'item_clock' and the
item's id; each item event appends one row to the case's hash-chained
history naming the item (``item_id``, ``item_from``, ``item_to``: NULL on
case rows, which therefore hash as before).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03

"""
from typing import Any, Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = "0011"
down_revision: Union[str, Sequence[str], None] = "0010"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _ts() -> sa.types.TypeEngine[Any]:
    # timestamptz on PostgreSQL; fixed-width ISO 8601 UTC text on SQLite (engine.store.tables.UTCDateTime)
    return sa.DateTime(timezone=True).with_variant(sa.String(32), "sqlite")


_LISTING_INDEXES = (
    ("ix_case_items_type_state_opened_at_case_id_item_id", ["type", "state", "opened_at", "case_id", "item_id"]),
    ("ix_case_items_type_opened_at_case_id_item_id", ["type", "opened_at", "case_id", "item_id"]),
    ("ix_case_items_opened_at_case_id_item_id", ["opened_at", "case_id", "item_id"]),
)


def upgrade() -> None:
    op.create_table(
        "case_items",
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("workflow_name", sa.String(200), nullable=False),
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("state", sa.String(200), nullable=False),
        sa.Column("data", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("opened_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.Column("closed_at", _ts(), nullable=True),
        sa.Column("opened_seq", sa.Integer(), nullable=False),
        sa.Column("state_entry_seq", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name="fk_case_items_case_id_cases"
        ),
        sa.PrimaryKeyConstraint("case_id", "item_id", name="pk_case_items"),
    )
    op.create_index(
        "ix_case_items_workflow_name_type_state_opened_at",
        "case_items",
        ["workflow_name", "type", "state", "opened_at"],
    )
    # cross-case item listings and case search by item type/state (Engine.find_items),
    # each in the listing's keyset order (opened_at, case_id, item_id)
    for name, columns in _LISTING_INDEXES:
        op.create_index(name, "case_items", columns)
    op.create_index(
        "ix_case_items_open_opened_at",
        "case_items",
        ["opened_at", "case_id", "item_id"],
        sqlite_where=sa.text("closed_at IS NULL"),
        postgresql_where=sa.text("closed_at IS NULL"),
    )
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("item_id", sa.String(64), nullable=True))
    with op.batch_alter_table("history", schema=None) as batch_op:
        batch_op.add_column(sa.Column("item_id", sa.String(64), nullable=True))
        batch_op.add_column(sa.Column("item_from", sa.String(200), nullable=True))
        batch_op.add_column(sa.Column("item_to", sa.String(200), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM timers WHERE item_id IS NOT NULL")
    with op.batch_alter_table("history", schema=None) as batch_op:
        batch_op.drop_column("item_to")
        batch_op.drop_column("item_from")
        batch_op.drop_column("item_id")
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.drop_column("item_id")
    op.drop_index("ix_case_items_open_opened_at", table_name="case_items")
    for name, _ in _LISTING_INDEXES:
        op.drop_index(name, table_name="case_items")
    op.drop_index("ix_case_items_workflow_name_type_state_opened_at", table_name="case_items")
    op.drop_table("case_items")
