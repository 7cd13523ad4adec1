"""timers.scope: case clocks are rows of the timers table

A case clock (a deadline or compliance watchdog declared for the whole case,
not in a state) is stored as a timer row with scope 'clock', so the worker,
the claim index, exactly-once firing and the pause/resume columns serve both.
State-scoped statements (cancel on leaving a state, pause on entering a hold)
only touch scope 'state' rows. A fired deadline clock or a lapsed watchdog
keeps status 'overdue' until the clock is stopped or restarted.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = "0006"
down_revision: Union[str, Sequence[str], None] = "0005"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("scope", sa.String(16), nullable=False, server_default="state")
        )


def downgrade() -> None:
    op.execute("DELETE FROM timers WHERE scope = 'clock'")
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.drop_column("scope")
