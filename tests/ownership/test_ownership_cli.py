"""The supervisor's CLI: import the directory, assign, who is over the ratio, what is
overdue, move a caseload (dry run, then for real, then a retry that changes nothing)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ownership_support import CLERK, OWNED

from engine.cli.main import main
from engine.clock import ManualClock
from engine.runtime.engine import Engine


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_supervisor_moves_an_overloaded_caseload_from_the_cli(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = ManualClock(datetime.now(UTC) - timedelta(days=5))
    with Engine.open(database_url, workflows=OWNED, clock=clock) as eng:
        ids = [eng.open_case("owned", {"patient_id": f"P-{n}"}, **CLERK).id for n in range(5)]
    staff = tmp_path / "staff.yaml"
    staff.write_text(
        "staff:\n"
        "  - {id: cm-ana, teams: [north], roles: [case_manager]}\n"
        "  - {id: cm-ben, teams: [north], roles: [case_manager]}\n"
        "  - {id: cm-cy, teams: [south], roles: [case_manager]}\n",
        encoding="utf-8",
    )
    db = ["--database-url", database_url, "--workflows", str(OWNED)]
    code, out, _ = cli(capsys, "staff", "import", str(staff), *db, "--actor", "hr")
    assert code == 0
    assert "imported 3 people" in out
    sup = ["--role", "supervisor", "--actor", "sup-lee", "--reason", "intake"]
    code, _, err = cli(capsys, "assign", ids[0], "--to", "cm-zed", *db, *sup)
    assert code == 1
    assert "unknown-person" in err
    for cid in ids:
        assert cli(capsys, "assign", cid, "--to", "cm-ana", *db, *sup)[0] == 0
    code, out, _ = cli(capsys, "caseloads", "--over-target", "--json", *db)
    loads = json.loads(out)["items"]
    assert [(c["holder"], c["cases"], c["over_target"]) for c in loads] == [("cm-ana", 5, True)]
    code, out, _ = cli(capsys, "worklist", "--assignee", "cm-ana", "--due-within", "7d", *db)
    assert code == 0
    assert out.count("OVERDUE") == 5  # first contact was due two days after each referral
    code, out, _ = cli(capsys, "worklist", *db)
    assert code == 2
    move = ["--from", "cm-ana", "--to", "cm-ben", "--to", "cm-cy", *sup]
    code, out, _ = cli(capsys, "reassign", *move, "--dry-run", "--json", *db)
    assert json.loads(out)["counts"] == {"planned": 5}
    code, out, err = cli(capsys, "reassign", *move, "--key", "k1", *db)
    assert code == 0
    assert "5 reassigned" in out
    assert "5/5 cases" in err
    code, out, _ = cli(capsys, "reassign", "--case", ids[0], *move[2:], "--key", "k1", *db)
    assert "1 unchanged" in out
    code, out, _ = cli(capsys, "caseloads", "--json", *db)
    assert {c["holder"]: c["cases"] for c in json.loads(out)["items"]} == {"cm-ben": 3, "cm-cy": 2}
