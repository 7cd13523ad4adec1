"""The Alembic-free schema check agrees with Alembic."""

from __future__ import annotations

from engine.store import migrate, revisions
from engine.store.database import create_database_engine


def test_shipped_head_read_off_the_files_is_alembics_head() -> None:
    assert revisions.shipped_head() == migrate.head_revision()


def test_database_revision_is_alembics_and_none_before_any_schema(database_url: str) -> None:
    db = create_database_engine(database_url)
    try:
        assert revisions.database_revision(db) is None
        migrate.upgrade(db, "0002")
        assert revisions.database_revision(db) == migrate.current_revision(db) == "0002"
        migrate.upgrade(db)
        assert revisions.database_revision(db) == migrate.head_revision()
    finally:
        db.dispose()
