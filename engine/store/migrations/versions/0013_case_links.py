"""case links: cases linked by a transfer between workflows

``case_links`` holds one row per transfer (engine/runtime/continuity.py): the
source case and its closing history row (seq and hash), the target case and
its opening history row, who did it and when. Each history row also names the
other case in its payload (``@link``), covered by the row hash; the audit walk
checks the table against both rows. Reopening keeps the same case and needs
no table.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03

"""
from typing import Any, Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = "0013"
down_revision: Union[str, Sequence[str], None] = "0012"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _ts() -> sa.types.TypeEngine[Any]:
    # timestamptz on PostgreSQL; fixed-width ISO 8601 UTC text on SQLite (engine.store.tables.UTCDateTime)
    return sa.DateTime(timezone=True).with_variant(sa.String(32), "sqlite")


def upgrade() -> None:
    op.create_table(
        "case_links",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("source_case_id", sa.String(36), nullable=False),
        sa.Column("source_seq", sa.Integer, nullable=False),
        sa.Column("source_hash", sa.String(64), nullable=False),
        sa.Column("target_case_id", sa.String(36), nullable=False),
        sa.Column("target_seq", sa.Integer, nullable=False),
        sa.Column("target_hash", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_case_id"], ["cases.id"], name=op.f("fk_case_links_source_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["target_case_id"], ["cases.id"], name=op.f("fk_case_links_target_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_links")),
        sa.UniqueConstraint(
            "source_case_id", "source_seq", name=op.f("uq_case_links_source_case_id_source_seq")
        ),
        sa.UniqueConstraint(
            "target_case_id", "target_seq", name=op.f("uq_case_links_target_case_id_target_seq")
        ),
    )


def downgrade() -> None:
    op.drop_table("case_links")
