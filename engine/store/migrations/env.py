"""Alembic environment: run with a connection handed over by engine.store.migrate."""

from __future__ import annotations

from alembic import context

from engine.store.tables import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - always called through engine.store.migrate
    raise RuntimeError("run migrations through engine.store.migrate (casework db upgrade)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
