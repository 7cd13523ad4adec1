"""Shared fixtures: the same tests run on SQLite and on PostgreSQL.

``database_url`` is parametrised over both backends. SQLite gets a fresh file
per test; PostgreSQL a fresh database per test on the server at
127.0.0.1:5432 (user postgres, database test), or ``CASEWORK_TEST_PG_URL``.
When that server is unreachable the PostgreSQL cases are skipped and the run
ends with a loud warning, unless ``CASEWORK_REQUIRE_POSTGRES=1`` (set by
``.ci/run``), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS_DIR = ROOT / "workflows"
PG_ADMIN_URL = os.environ.get(
    "CASEWORK_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_PG = os.environ.get("CASEWORK_REQUIRE_POSTGRES") == "1"

# the suite-wide PHI sentinel check (tests/phi_sentinel.py)
pytest_plugins = ["phi_sentinel"]

_pg_state: dict[str, object] = {}


def _pg_available() -> str | None:
    """None when PostgreSQL answers, else why not."""
    if "error" not in _pg_state:
        try:
            import sqlalchemy as sa

            eng = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with eng.connect() as conn:
                conn.execute(sa.text("select 1"))
            eng.dispose()
            _pg_state["error"] = None
        except Exception as exc:  # any driver or connection failure means "not here"
            _pg_state["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    err = _pg_state["error"]
    return None if err is None else str(err)


def _with_database(url: str, name: str) -> str:
    import sqlalchemy as sa

    return sa.engine.make_url(url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'casework.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    err = _pg_available()
    if err is not None:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL required (CASEWORK_REQUIRE_POSTGRES=1) but unreachable: {err}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {err}")
    import sqlalchemy as sa

    name = f"casework_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield _with_database(PG_ADMIN_URL, name)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs once per backend."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # Checked here too because under xdist the skips happen in worker processes.
    err = _pg_available()
    if err is not None:
        terminalreporter.write_sep(
            "!",
            f"PostgreSQL tests SKIPPED: server unreachable at {PG_ADMIN_URL} ({err}). "
            "Start PostgreSQL on 127.0.0.1:5432 or set CASEWORK_TEST_PG_URL.",
            red=True,
            bold=True,
        )
