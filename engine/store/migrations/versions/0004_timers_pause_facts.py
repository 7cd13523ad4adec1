"""timers.paused_at, timers.paused_due_at: what resuming a paused deadline needs

Resuming keeps the deadline's local-time meaning (engine.timing.due.resume_due):
business-day timers keep the business days that were left, calendar timers the
local wall-clock time that was left. That needs the pause instant and the due
instant at the pause, not only the seconds that were left (still kept in
remaining_seconds for the operator view).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

"""
from typing import Any, Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _ts() -> sa.types.TypeEngine[Any]:
    # timestamptz on PostgreSQL; fixed-width ISO 8601 UTC text on SQLite (engine.store.tables.UTCDateTime)
    return sa.DateTime(timezone=True).with_variant(sa.String(32), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paused_at", _ts(), nullable=True))
        batch_op.add_column(sa.Column("paused_due_at", _ts(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.drop_column("paused_due_at")
        batch_op.drop_column("paused_at")
