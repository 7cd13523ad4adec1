"""The schema revision check without importing Alembic (most commands only check).

``ensure_schema`` asks here first: the newest shipped revision read off the
migration files' ``revision`` / ``down_revision`` lines, and the database's
from ``alembic_version``. Only when they differ (or either cannot be read)
does it load Alembic (``engine/store/migrate.py``), which then decides.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa

VERSIONS_DIR = Path(__file__).resolve().parent / "migrations" / "versions"
_LINE = re.compile(r'^(revision|down_revision)\s*(?::[^=]*)?=\s*["\']([^"\']+)["\']', re.M)


@lru_cache(maxsize=1)
def shipped_head() -> str | None:
    """The one revision no other names as its ``down_revision``; None when unsure."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in VERSIONS_DIR.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        found: dict[str, str] = {m.group(1): m.group(2) for m in _LINE.finditer(text)}
        if "revision" not in found:
            return None  # a file this reader does not understand: let Alembic decide
        revisions.add(found["revision"])
        if "down_revision" in found:
            parents.add(found["down_revision"])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def database_revision(db: sa.Engine) -> str | None:
    """The revision in ``alembic_version``; None when there is none (or no such table)."""
    try:
        with db.connect() as conn:
            rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    except sa.exc.DBAPIError:
        return None
    return str(rows[0][0]) if len(rows) == 1 else None
