"""The ownership language: the checker reports each mistake at file:line:col, and the
definition (with requires_assignee) survives the store's JSON codec."""

from __future__ import annotations

from pathlib import Path

import pytest
from ownership_support import OWNED

from engine.definitions import check_paths, load_workflow
from engine.store.codec import definition_from_json, definition_to_json

TEXT = OWNED.read_text(encoding="utf-8")


def _errors(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "owned.yaml"
    path.write_text(text, encoding="utf-8")
    report = check_paths([path])
    return [f"{d.line}:{d.column}: {d.code}: {d.message}" for d in report.diagnostics]


def _line(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    ("old", "new", "code", "needle"),
    [
        (
            "  assign_roles: [supervisor]",
            "  assign_roles: [supervisr]",
            "unknown-role",
            "assign_roles",
        ),
        (
            "  caseload_target: $caseload_target",
            "  caseload_target: $caseload_ratio",
            "unknown-param",
            "caseload_target: $",
        ),
        ("    field: risk_level", "    field: risk", "invalid-ownership", "field: risk"),
        (
            "    description: Referral received.\n",
            "    description: Referral received.\n    requires_assignee: true\n",
            "assignee-required-at-open",
            "requires_assignee",
        ),
    ],
)
def test_the_checker_locates_each_ownership_mistake(
    tmp_path: Path, old: str, new: str, code: str, needle: str
) -> None:
    assert old in TEXT
    text = TEXT.replace(old, new, 1)
    errors = _errors(tmp_path, text)
    line = _line(text, needle)
    assert [e for e in errors if e.split(": ")[1] == code and e.startswith(f"{line}:")], errors


def test_requires_assignee_without_ownership_is_an_error(tmp_path: Path) -> None:
    start = TEXT.index("\nownership:")
    end = TEXT.index("\nroles:")
    text = TEXT[:start] + TEXT[end:]
    errors = _errors(tmp_path, text)
    line = _line(text, "requires_assignee")
    assert any(e.startswith(f"{line}:5: invalid-ownership") for e in errors), errors


def test_the_ownership_ir_survives_the_store_codec() -> None:
    d = load_workflow(OWNED)
    assert d.ownership is not None
    assert d.ownership.caseload_target == 4.0
    assert d.ownership.target_parameter == "caseload_target"
    assert d.ownership.weight_of({"risk_level": "high"}) == 2.0
    assert d.ownership.weight_of({}) == 1.0
    assert d.states["assessing"].requires_assignee
    back = definition_from_json(definition_to_json(d), d.source_text)
    assert back.ownership == d.ownership
    assert back.states["assessing"].requires_assignee
    assert not back.states["referred"].requires_assignee


def test_every_bundled_workflow_declares_its_ratio_with_a_source() -> None:
    from engine.definitions import default_workflows_dir, load_workflows

    for d in load_workflows([default_workflows_dir()]):
        assert d.ownership is not None, d.name
        assert d.ownership.target_parameter == "caseload_target", d.name
        assert d.ownership.caseload_target == d.parameters["caseload_target"], d.name
    text = (default_workflows_dir() / "intensive.yaml").read_text(encoding="utf-8")
    assert "ACT fidelity (DACTS) - 10 or fewer clients per team member." in text
