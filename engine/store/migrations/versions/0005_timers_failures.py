"""timers.attempts, timers.last_error: a timer whose firing fails is retried with backoff

A firing that raises (a case whose data the timer's computation cannot handle,
a bug in a guard) used to roll back and leave the timer the oldest due one, so
the worker retried it forever and no other case's deadline fired. Now the
failure is recorded on the timer (attempt count, exception type: never its
text) and the timer is postponed with backoff; operators see both.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = "0005"
down_revision: Union[str, Sequence[str], None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("attempts", sa.Integer, nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("last_error", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.drop_column("last_error")
        batch_op.drop_column("attempts")
