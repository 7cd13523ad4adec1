"""change feed, business keys, acting user

- ``history.change_seq`` (unique) and the one-row ``change_counter`` table: each
  history row gets its place in the change feed from the counter, whose row
  lock is held until the writing transaction commits, so feed order is commit
  order on PostgreSQL too (a serial id is not: concurrent transactions commit
  out of id order). Existing rows are numbered by id (they are all committed).
- ``history.client`` and ``access_log.client``: the API client that acted on
  behalf of the recorded actor (an end user), NULL when the actor acted itself.
- ``case_keys``: the business keys of each case, indexed for search and
  correlation; unique among open cases where the workflow declares it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = "0008"
down_revision: Union[str, Sequence[str], None] = "0007"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("history", schema=None) as batch_op:
        batch_op.add_column(sa.Column("client", sa.String(200), nullable=True))
        batch_op.add_column(sa.Column("change_seq", sa.BigInteger, nullable=True))
    op.execute("UPDATE history SET change_seq = id")
    op.create_index("ix_history_change_seq", "history", ["change_seq"], unique=True)
    counter = op.create_table(
        "change_counter",
        sa.Column("id", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("last", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_counter")),
    )
    op.execute(
        counter.insert().from_select(
            ["id", "last"],
            sa.select(sa.literal(1), sa.func.coalesce(sa.func.max(sa.column("id")), 0)).select_from(
                sa.table("history", sa.column("id"))
            ),
        )
    )
    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("client", sa.String(200), nullable=True))
    op.create_table(
        "case_keys",
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("workflow_name", sa.String(200), nullable=False),
        sa.Column("value", sa.String(500), nullable=False),
        sa.Column("open_unique", sa.String(200), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_keys_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("case_id", "name", name=op.f("pk_case_keys")),
        sa.UniqueConstraint(
            "open_unique", "name", "value", name=op.f("uq_case_keys_open_unique_name_value")
        ),
    )
    op.create_index(
        "ix_case_keys_workflow_name_name_value",
        "case_keys",
        ["workflow_name", "name", "value"],
    )


def downgrade() -> None:
    op.drop_index("ix_case_keys_workflow_name_name_value", table_name="case_keys")
    op.drop_table("case_keys")
    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.drop_column("client")
    op.drop_table("change_counter")
    op.drop_index("ix_history_change_seq", table_name="history")
    with op.batch_alter_table("history", schema=None) as batch_op:
        batch_op.drop_column("change_seq")
        batch_op.drop_column("client")
