"""Finding 6b: who may open a case is declared by the workflow (``open_roles``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_support import RECORD, V1

from engine.clock import ManualClock
from engine.definitions import load_workflows
from engine.errors import DefinitionError, OpenDenied
from engine.runtime.engine import Engine
from engine.store.codec import definition_from_json, definition_to_json

ROOT = Path(__file__).resolve().parents[2]
BROKERAGE = {"patient_id": "P-0001", "program": "housing", "priority": "routine"}


def _with_open_roles(tmp_path: Path, line: str) -> Path:
    text = (V1 / "enginetest.yaml").read_text().replace("roles:\n", f"{line}\nroles:\n", 1)
    path = tmp_path / "enginetest.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("roles", [[], ["nobody"], ["supervisor"]])
def test_open_is_denied_without_an_open_role(database_url: str, roles: list[str]) -> None:
    with Engine.open(database_url, workflows=ROOT / "workflows", clock=ManualClock()) as eng:
        with pytest.raises(OpenDenied) as caught:
            eng.open_case("brokerage", {**BROKERAGE, "risk_level": "low"}, actor="x", roles=roles)
        assert caught.value.to_dict()["allowed_roles"] == ["intake_coordinator", "case_manager"]
        assert not eng.find().items


def test_without_open_roles_any_declared_role_may_open(database_url: str) -> None:
    with Engine.open(database_url, workflows=V1, clock=ManualClock()) as eng:
        assert eng.definition("enginetest").open_roles == ()
        eng.open_case("enginetest", RECORD, actor="m", roles=["manager"])
        with pytest.raises(OpenDenied):
            eng.open_case("enginetest", RECORD, actor="m", roles=["intake_coordinator"])


def test_open_roles_limit_the_declared_roles(database_url: str, tmp_path: Path) -> None:
    path = _with_open_roles(tmp_path, "open_roles: [clerk]")
    with Engine.open(database_url, workflows=path, clock=ManualClock()) as eng:
        eng.open_case("enginetest", RECORD, actor="c", roles=["clerk"])
        with pytest.raises(OpenDenied):
            eng.open_case("enginetest", RECORD, actor="m", roles=["manager"])


def test_open_roles_survive_the_stored_json() -> None:
    (d,) = load_workflows([ROOT / "workflows" / "hospital.yaml"])
    again = definition_from_json(definition_to_json(d), d.source_text)
    assert again.open_roles == d.open_roles == ("case_manager", "social_worker")


def test_undeclared_open_role_is_a_located_diagnostic(tmp_path: Path) -> None:
    path = _with_open_roles(tmp_path, "open_roles: [clerk, nurse]")
    with pytest.raises(DefinitionError) as caught:
        load_workflows([path])
    (diag,) = caught.value.diagnostics
    line = path.read_text().splitlines().index("open_roles: [clerk, nurse]") + 1
    assert (diag.code, diag.json_path, diag.line) == ("unknown-role", "$.open_roles[1]", line)


def test_every_bundled_workflow_declares_who_may_open() -> None:
    for d in load_workflows([ROOT / "workflows"]):
        assert d.open_roles, d.name
        assert set(d.open_roles) <= set(d.roles)
