"""timers: claim index (status, due_at, id) replaces (status, due_at)

The claim orders due timers by (due_at, id); with the index on (status,
due_at) alone every claim sorted all due timers (cost grew with the backlog).
(status, due_at, id) serves the claim as an index scan with LIMIT, and still
serves every query the old index served (min(due_at), due-before filters).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

"""
from typing import Sequence, Union

from alembic import op


revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.create_index("ix_timers_status_due_at_id", ["status", "due_at", "id"], unique=False)
        batch_op.drop_index("ix_timers_status_due_at")


def downgrade() -> None:
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.create_index("ix_timers_status_due_at", ["status", "due_at"], unique=False)
        batch_op.drop_index("ix_timers_status_due_at_id")
