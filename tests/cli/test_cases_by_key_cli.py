"""`casework cases list --key NAME=VALUE`: cases found by their business keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.clock import ManualClock
from engine.runtime.engine import Engine

KEYED = Path(__file__).resolve().parents[1] / "engine" / "fixtures" / "keyed"
CLERK = {"actor": "clerk-1", "roles": ["clerk"]}


def test_cases_list_finds_cases_by_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    with Engine.open(url, workflows=KEYED, clock=ManualClock()) as eng:
        a = eng.open_case("keyedtest", {"patient_id": "P-0001", "encounter_id": "E-1"}, **CLERK)
        eng.open_case("keyedtest", {"patient_id": "P-0001", "encounter_id": "E-2"}, **CLERK)
    base = ["cases", "list", "--database-url", url, "--workflows", str(KEYED), "--json"]
    assert main([*base, "--key", "encounter_id=E-1"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)["items"]] == [a.id]
    assert main([*base, "--key", "patient_id=P-0001"]) == 0
    assert len(json.loads(capsys.readouterr().out)["items"]) == 2
    assert main([*base, "--key", "patient_id=P-0001", "--key", "encounter_id=E-9"]) == 0
    assert json.loads(capsys.readouterr().out)["items"] == []
    assert main([*base, "--key", "patient_id"]) == 2  # not NAME=VALUE
    assert "NAME=VALUE" in capsys.readouterr().err
