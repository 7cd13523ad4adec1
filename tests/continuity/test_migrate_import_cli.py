"""`casework import`, `casework migrate plan` and `casework migrate run` from the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from continuity_support import PLANS, V1, V2, outreach_rows, write_csv

from engine.cli.main import main


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_import_then_migrate_from_the_cli(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    f = write_csv(tmp_path / "caseload.csv", outreach_rows(30, now))
    db = ["--database-url", database_url]
    code, out, err = cli(capsys, "import", str(f), *db, "--workflows", str(V1), "--batch", "10")
    assert code == 0, err
    assert out.startswith("import imp-")
    assert out.rstrip().endswith("30 rows, 30 cases written, 0 already present")
    assert "... 30 of 30 rows" in err
    code, out, _ = cli(capsys, "import", str(f), *db, "--workflows", str(V1), "--quiet")
    assert code == 0
    assert out.rstrip().endswith("30 rows, 0 cases written, 30 already present")

    both = [*db, "--workflows", str(V1), "--workflows", str(V2)]
    code, out, err = cli(capsys, "migrate", "plan", str(PLANS / "bad.yaml"), *both)
    assert code == 1
    assert "bad.yaml:6:3: $.states.asessing: unknown state 'asessing' of outreach v1" in err
    assert "bad.yaml:10:12: $.record.remove[0]: field 'consent_on_file' is required" in err

    code, out, err = cli(capsys, "migrate", "plan", str(PLANS / "rename.yaml"), *both)
    assert code == 0, err
    assert "(dry run: nothing written)" in out
    assert "assessing   evaluating  20" in out
    assert "30 would move, 0 cannot move, 0 already on v2" in out

    code, out, err = cli(capsys, "migrate", "run", str(PLANS / "rename.yaml"), *both, "--json")
    assert code == 0, err
    assert json.loads(out)["moved"] == 30
    code, out, _ = cli(capsys, "migrate", "run", str(PLANS / "rename.yaml"), *both, "--quiet")
    assert code == 0
    assert "0 moved, 0 cannot move, 30 already on v2" in out
    code, out, _ = cli(capsys, "audit", "verify", *db)
    assert code == 0


def test_import_reports_every_bad_row_at_its_line_and_writes_nothing(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    future = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    f = tmp_path / "bad.jsonl"
    rows = [
        {"workflow": "outreach", "state": "referral", "record": {"patient_id": "P-1"}},
        {"workflow": "outreach", "state": "screening", "record": {"patient_id": "P-2"}},
        {
            "workflow": "outreach",
            "state": "assessing",
            "entered_at": future,
            "record": {"patient_id": "P-3"},
        },
    ]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    db = ["--database-url", database_url, "--workflows", str(V1)]
    code, out, _ = cli(capsys, "import", str(f), *db)
    assert code == 1
    assert out.splitlines() == [
        f"{f}:2: state: unknown state of outreach v1",
        f"{f}:3: entered_at: in the future: the deadlines count from dates that have passed",
        "3 rows: 2 bad (2 problems); nothing written",
    ]
