"""Alembic, run programmatically: no alembic.ini needed, works from a wheel."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
MIGRATION_LOCK_KEY = 0x43415345  # "CASE"


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic Config pointing at the bundled migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest migration shipped with this version of Casework."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(db: sa.Engine) -> str | None:
    """The revision the database is at; None when it has no Casework schema."""
    with db.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def has_any_table(db: sa.Engine) -> bool:
    return bool(sa.inspect(db).get_table_names())


def upgrade(db: sa.Engine, revision: str = "head") -> None:
    """Upgrade the schema to ``revision`` (default: the newest).

    On PostgreSQL a transaction-scoped advisory lock makes processes that
    upgrade at the same time take turns (the second finds nothing to do).
    """
    with db.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        command.upgrade(alembic_config(conn), revision)


def downgrade(db: sa.Engine, revision: str) -> None:
    with db.begin() as conn:
        command.downgrade(alembic_config(conn), revision)
