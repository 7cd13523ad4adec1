"""ownership: the staff directory and who holds each case

- ``staff``: the directory assignees come from (person id, active, teams, the
  workflow roles the person holds, for the events a worklist offers), kept
  by the API (``PUT /v1/staff/{id}``) and by ``casework staff import FILE``.
- ``case_owners``: one row per case that was ever assigned: its assignee and
  team (NULL when unassigned), its caseload weight (the workflow's acuity
  weights over the record), when it was opened, first assigned and closed.
  The assignments themselves are rows of the case's hash-chained history
  (event ``@assign``); this table is what caseloads and worklists query.
  Partial indexes over the open rows answer caseload counts per assignee and
  per team from the index alone (weight included; closed_at, always NULL there,
  is a column too, since SQLite only counts an index as covering when it holds
  every column the query names), and find one assignee's open cases for the
  worklist.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03

"""
from typing import Any, Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = "0012"
down_revision: Union[str, Sequence[str], None] = "0011"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_UTC = sa.DateTime(timezone=True).with_variant(sa.String(32), "sqlite")


def _open() -> dict[str, Any]:
    clause = sa.text("closed_at IS NULL")
    return {"sqlite_where": clause, "postgresql_where": clause}


def upgrade() -> None:
    op.create_table(
        "staff",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("teams", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("roles", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("updated_at", _UTC, nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff")),
    )
    op.create_table(
        "case_owners",
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("workflow_name", sa.String(200), nullable=False),
        sa.Column("assignee", sa.String(200), nullable=True),
        sa.Column("team", sa.String(64), nullable=True),
        sa.Column("weight", sa.Float, nullable=False),
        sa.Column("opened_at", _UTC, nullable=False),
        sa.Column("assigned_at", _UTC, nullable=False),
        sa.Column("first_assigned_at", _UTC, nullable=True),
        sa.Column("closed_at", _UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_owners_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_case_owners")),
    )
    op.create_index(
        "ix_case_owners_open_assignee",
        "case_owners",
        ["assignee", "workflow_name", "weight", "case_id", "closed_at"],
        **_open(),
    )
    op.create_index(
        "ix_case_owners_open_team",
        "case_owners",
        ["team", "workflow_name", "weight", "case_id", "closed_at"],
        **_open(),
    )


def downgrade() -> None:
    op.drop_index("ix_case_owners_open_team", table_name="case_owners")
    op.drop_index("ix_case_owners_open_assignee", table_name="case_owners")
    op.drop_table("case_owners")
    op.drop_table("staff")
