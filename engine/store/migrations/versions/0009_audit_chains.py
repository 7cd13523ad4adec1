"""Audit coverage: history.head_hash, the access log hash-chained, audit checkpoints

``history.head_hash`` covers the case's state, phase, previous state, state
entry, workflow version and its opening and closing instants after each row,
so editing ``cases.state``, ``phase`` or ``closed_at`` no longer verifies.
``access_log`` gains ``seq``, ``prev_hash`` and ``hash`` (one chain, seq 1, 2,
... in id order; existing rows are chained here). ``audit_checkpoints`` holds
the signed checkpoints that catch deleted cases and truncated tails.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

"""
import hashlib
import json
from datetime import UTC, datetime
from typing import Any, Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = "0009"
down_revision: Union[str, Sequence[str], None] = "0008"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

GENESIS = "0" * 64
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _instant(value: Any) -> str:
    # frozen copy of engine.runtime.audit.access_hash: a migration must not change later
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return str(value.astimezone(UTC).isoformat(timespec="microseconds"))


def _access_hash(seq: int, actor: str, case_id: Any, what: str, at: Any, prev: str) -> str:
    doc = {
        "seq": seq,
        "actor": actor,
        "case_id": case_id,
        "what": what,
        "at": _instant(at),
        "prev_hash": prev,
    }
    return hashlib.sha256(_CANONICAL.encode(doc).encode()).hexdigest()


def upgrade() -> None:
    with op.batch_alter_table("history", schema=None) as batch_op:
        batch_op.add_column(sa.Column("head_hash", sa.String(length=64), nullable=True))
    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(
        sa.text("SELECT id, actor, case_id, what, at FROM access_log ORDER BY id")
    ).all()
    prev = GENESIS
    for seq, row in enumerate(rows, start=1):
        h = _access_hash(seq, row.actor, row.case_id, row.what, row.at, prev)
        conn.execute(
            sa.text("UPDATE access_log SET seq = :s, prev_hash = :p, hash = :h WHERE id = :i"),
            {"s": seq, "p": prev, "h": h, "i": row.id},
        )
        prev = h
    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.alter_column("seq", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_access_log_seq"), ["seq"])
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True).with_variant(sa.String(32), "sqlite"), nullable=False),
        sa.Column("heads", sa.JSON(), nullable=False),
        sa.Column("access_seq", sa.Integer(), nullable=False),
        sa.Column("access_hash", sa.String(length=64), nullable=False),
        sa.Column("prev_digest", sa.String(length=64), nullable=False),
        sa.Column("signed", sa.Boolean(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
    )


def downgrade() -> None:
    op.drop_table("audit_checkpoints")
    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_access_log_seq"), type_="unique")
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("seq")
    with op.batch_alter_table("history", schema=None) as batch_op:
        batch_op.drop_column("head_hash")
