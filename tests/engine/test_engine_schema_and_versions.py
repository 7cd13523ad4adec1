"""Schema migrations and workflow versions."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from engine_support import CLERK, RECORD, V1, V2

from engine.cli.main import main
from engine.clock import ManualClock
from engine.errors import DefinitionConflict, SchemaOutOfDate
from engine.runtime.engine import Engine
from engine.store import migrate
from engine.store.database import create_database_engine
from engine.store.tables import metadata


def test_new_database_is_created_at_head(database_url: str) -> None:
    with Engine.open(database_url, workflows=V1, clock=ManualClock()):
        pass
    db = create_database_engine(database_url)
    try:
        assert migrate.current_revision(db) == migrate.head_revision()
        assert set(metadata.tables) <= set(sa.inspect(db).get_table_names())
    finally:
        db.dispose()


def test_migrations_match_the_table_definitions(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    db = create_database_engine(database_url)
    try:
        migrate.upgrade(db)
        with db.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == []
    finally:
        db.dispose()


def test_existing_database_behind_is_refused_until_upgraded(database_url: str, capsys) -> None:
    db = create_database_engine(database_url)
    with db.begin() as conn:  # a database from before Casework had a schema
        conn.execute(sa.text("CREATE TABLE legacy (id INTEGER PRIMARY KEY)"))
    db.dispose()
    with pytest.raises(SchemaOutOfDate) as err:
        Engine.open(database_url, workflows=V1)
    assert "casework db upgrade" in str(err.value)
    assert main(["db", "current", "--database-url", database_url]) == 1
    assert main(["db", "upgrade", "--database-url", database_url]) == 0
    assert main(["db", "current", "--database-url", database_url]) == 0
    capsys.readouterr()
    with Engine.open(database_url, workflows=V1) as eng:
        assert eng.definition("enginetest").version == 1


def test_upgrade_false_refuses_an_empty_database(database_url: str) -> None:
    with pytest.raises(SchemaOutOfDate):
        Engine.open(database_url, workflows=V1, upgrade=False)


def test_version_two_coexists_and_open_cases_stay_on_version_one(
    database_url: str, tmp_path: Path
) -> None:
    clock = ManualClock()
    with Engine.open(database_url, workflows=V1, clock=clock) as eng:
        old = eng.open_case("enginetest", RECORD, **CLERK)
    # v1's file is replaced by v2: v1 cases still run on v1 (from the stored definition)
    with Engine.open(database_url, workflows=V2, clock=clock) as eng:
        assert [d.version for d in eng.definitions()] == [1, 2]
        assert eng.definition("enginetest").version == 2
        new = eng.open_case("enginetest", RECORD, **CLERK)
        assert new.workflow_version == 2
        moved = eng.send(old.id, "contacted", **CLERK)
        assert moved.workflow_version == 1
        assert eng.history(old.id)[-1].workflow_version == 1
    # both files side by side is fine too
    both = tmp_path / "both"
    both.mkdir()
    shutil.copy(V1 / "enginetest.yaml", both / "v1.yaml")
    shutil.copy(V2 / "enginetest.yaml", both / "v2.yaml")
    with Engine.open(database_url, workflows=both, clock=clock) as eng:
        assert eng.definition("enginetest", 1).title == "Engine test workflow"


def test_changed_file_without_version_bump_is_a_conflict(database_url: str, tmp_path: Path) -> None:
    with Engine.open(database_url, workflows=V1, clock=ManualClock()):
        pass
    changed = tmp_path / "enginetest.yaml"
    text = (V1 / "enginetest.yaml").read_text()
    changed.write_text(text.replace("description: Exercises the engine.", "description: Changed."))
    with pytest.raises(DefinitionConflict) as err:
        Engine.open(database_url, workflows=changed, clock=ManualClock())
    assert "enginetest" in str(err.value)


def test_database_one_revision_behind_is_refused_then_upgraded(database_url: str) -> None:
    db = create_database_engine(database_url)
    migrate.upgrade(db, "0001")
    db.dispose()
    with pytest.raises(SchemaOutOfDate) as err:
        Engine.open(database_url, workflows=V1)
    assert "0001" in str(err.value)
    assert main(["db", "upgrade", "--database-url", database_url]) == 0
    with Engine.open(database_url, workflows=V1, clock=ManualClock()) as eng:
        case = eng.open_case("enginetest", RECORD, **CLERK)
        assert eng.verify_audit(case.id).ok


def test_invalid_workflow_file_raises_definition_error(database_url: str, tmp_path: Path) -> None:
    from engine.errors import DefinitionError

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        (V1 / "enginetest.yaml").read_text().replace("initial: intake", "initial: nowhere")
    )
    with pytest.raises(DefinitionError) as err:
        Engine.open(database_url, workflows=bad)
    assert any("bad.yaml" in str(d) for d in err.value.diagnostics)
