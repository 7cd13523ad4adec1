"""outbox.arguments, outbox.lease_token, outbox.locked_by: actions delivered out of process

Actions are delivered by webhook or pulled by workers in any language
(fetch-and-lock with a lease). ``arguments`` holds what the workflow's CEL
computed for the action when it was queued (the receiver gets that and the
ids, never the whole record unless declared); ``lease_token`` is the fencing
token, raised each time the item is leased, so a completion by a worker whose
lease was taken over is refused; ``locked_by`` names the worker holding it.
An index on (action, status, next_attempt_at) serves fetch-and-lock by name.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = "0007"
down_revision: Union[str, Sequence[str], None] = "0006"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("arguments", sa.JSON(none_as_null=True), nullable=True))
        batch_op.add_column(
            sa.Column("lease_token", sa.Integer, nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("locked_by", sa.String(200), nullable=True))
        batch_op.create_index(
            "ix_outbox_action_status_next_attempt_at",
            ["action", "status", "next_attempt_at"],
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_action_status_next_attempt_at")
        batch_op.drop_column("locked_by")
        batch_op.drop_column("lease_token")
        batch_op.drop_column("arguments")
