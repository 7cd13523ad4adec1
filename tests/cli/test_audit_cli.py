"""``casework audit verify``: reads the history through the engine, writes nothing."""

from __future__ import annotations

import json

import sqlalchemy as sa

from engine.cli.main import main


def _count_definitions(url: str) -> int:
    db = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with db.connect() as conn:
        n = conn.execute(sa.text("SELECT count(*) FROM workflow_definitions")).scalar_one()
    db.dispose()
    return int(n)


def test_audit_verify_registers_no_workflow(database_url, capsys):
    assert main(["db", "upgrade", "--database-url", database_url]) == 0
    capsys.readouterr()
    assert main(["audit", "verify", "--database-url", database_url]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["ok"], report["cases_checked"]) == (True, 0)
    assert _count_definitions(database_url) == 0


def test_audit_verify_refuses_a_database_without_the_schema(database_url, capsys):
    assert main(["audit", "verify", "--database-url", database_url]) == 1
    assert json.loads(capsys.readouterr().out)["error"] == "schema-out-of-date"
