"""Database connections: SQLite durability settings and PostgreSQL via psycopg 3.

SQLite runs in WAL mode with ``synchronous=FULL`` and foreign keys on. The
sqlite3 driver's own transaction handling is switched off
(``isolation_level = None``) and SQLAlchemy emits the BEGIN itself: ``BEGIN
IMMEDIATE`` for writes, so concurrent writers queue on the busy timeout instead
of failing with "database is locked" halfway through, and plain ``BEGIN`` for
reads (connections opened with the ``casework_read`` execution option).
"""

from __future__ import annotations

import os
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

BUSY_TIMEOUT_MS = 60_000
READ = {"casework_read": True}


def normalise_url(url: str) -> str:
    """Default PostgreSQL URLs to the psycopg 3 driver."""
    parsed = sa.engine.make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def create_database_engine(url: str, *, pool_size: int = 5) -> sa.Engine:
    """An engine configured for Casework's durability and locking rules."""
    url = normalise_url(url)
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        _create_private(parsed.database)
        db = sa.create_engine(
            url,
            hide_parameters=True,  # no bound value (case data) in SQL logs or error text
            connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )
        _configure_sqlite(db)
        return db
    return sa.create_engine(
        url, pool_size=pool_size, max_overflow=10, pool_pre_ping=True, hide_parameters=True
    )


def _create_private(database: str | None) -> None:
    """Create the SQLite file 0600 before SQLite does (it would follow the umask: 0644).

    SQLite gives its -wal and -shm files the database file's permissions, so
    they are private too. An existing file keeps the mode it has.
    """
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    try:
        fd = os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError:  # a missing folder and the like: SQLite reports it on connect
        return
    os.close(fd)


def _configure_sqlite(db: sa.Engine) -> None:
    @event.listens_for(db, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN, not the driver
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.close()

    @event.listens_for(db, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        if conn.get_execution_options().get("casework_read"):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def is_postgres(db: sa.Engine | sa.Connection) -> bool:
    return db.dialect.name == "postgresql"
