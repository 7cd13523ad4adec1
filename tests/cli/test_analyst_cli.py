"""`casework validate|describe|diagram|schema`: output, exit codes 0 valid / 1 invalid / 2 usage."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.definitions import schema_path

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yaml"))
DIAGNOSTIC_LINE = re.compile(
    r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<path>\$\S*): (?P<msg>.+)$"
)

MINIMAL = """\
name: outreach
version: 1
title: Community outreach
description: Reach the client, assess, plan, link to services, follow up monthly, close.
model: brokerage
initial: referred
case_schema:
  type: object
  properties:
    patient_id: {type: string}
roles:
  case_manager:
    description: Works the case.
states:
  referred:
    phase: intake
    description: Referral received.
    timers:
      - name: first_contact_due
        event: first_contact_overdue
        business_days: 3
    transitions:
      - event: first_contact_made
        target: assessing
        roles: [case_manager]
      - event: first_contact_overdue
        internal: true
  assessing:
    phase: assessment
    description: Needs assessment.
    transitions:
      - event: assessment_completed
        target: planning
        roles: [case_manager]
  planning:
    phase: planning
    description: Service plan.
    transitions:
      - event: plan_signed
        target: linking
        roles: [case_manager]
  linking:
    phase: service_delivery
    description: Referrals out.
    transitions:
      - event: services_started
        target: monitoring
        roles: [case_manager]
  monitoring:
    phase: monitoring
    description: Monthly follow-up.
    timers:
      - name: monthly_contact
        event: contact_due
        every: P1M
    transitions:
      - event: contact_due
        internal: true
      - event: goals_met
        target: closed
        roles: [case_manager]
  closed:
    phase: closure
    description: Case closed.
    final: true
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def broken_copy(tmp_path: Path, workflow: str) -> tuple[Path, Path, int, int, str]:
    """Copy workflows/ and misspell the first target state of one workflow.

    Returns (folder, broken file, line, column, misspelt name).
    """
    folder = tmp_path / "workflows"
    shutil.copytree(WORKFLOWS, folder)
    path = folder / f"{workflow}.yaml"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*target: )([a-z_]+)\s*$", line)
        if m:
            wrong = m.group(2)[:-1] + "x" + m.group(2)[-1]  # one letter too many
            lines[i] = f"{m.group(1)}{wrong}\n"
            path.write_text("".join(lines), encoding="utf-8")
            return folder, path, i + 1, len(m.group(1)) + 1, wrong
    raise AssertionError(f"no target in {path}")


# -- validate -----------------------------------------------------------------------


def test_validate_bundled_workflows_exits_0_with_a_summary(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "validate", str(WORKFLOWS))
    assert code == 0
    summary = out.strip().splitlines()[-1]
    n_workflows = len(WORKFLOW_FILES)
    assert re.fullmatch(
        rf"checked {n_workflows} workflow\(s\) in \d+ file\(s\): 0 errors, \d+ warnings?",
        summary,
    )


@pytest.mark.parametrize("workflow", [p.stem for p in WORKFLOW_FILES])
def test_validate_broken_copy_reports_the_misspelt_target_at_its_line_and_exits_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, workflow: str
) -> None:
    folder, path, line, column, wrong = broken_copy(tmp_path, workflow)
    code, out, _ = run(capsys, "validate", str(folder))
    assert code == 1
    located = [m for ln in out.splitlines() if (m := DIAGNOSTIC_LINE.match(ln))]
    hits = [m for m in located if wrong in m["msg"]]
    assert len(hits) == 1, out
    hit = hits[0]
    assert Path(hit["file"]) == path
    assert (int(hit["line"]), int(hit["col"])) == (line, column)
    assert hit["path"].endswith(".target")
    assert "did you mean" in hit["msg"]
    assert re.search(r": 1 error, \d+ warnings?$", out.strip().splitlines()[-1])


def test_validate_prints_diagnostics_sorted_by_file_line_and_column(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = MINIMAL.replace("target: assessing", "target: asessing").replace(
        "target: closed", "target: clossed"
    )
    b = write(tmp_path, "b.yaml", text)
    a = write(tmp_path, "a.yaml", text.replace("name: outreach", "name: outreach_a"))
    code, out, _ = run(capsys, "validate", str(b), str(a))
    assert code == 1
    keys = [
        (m["file"], int(m["line"]), int(m["col"]))
        for ln in out.splitlines()
        if (m := DIAGNOSTIC_LINE.match(ln))
    ]
    assert len(keys) == 4
    assert keys == sorted(keys)


def test_validate_warnings_alone_exit_0(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # nobody may send services_started and the state has no timer: a warning, not an error
    sent_by_a_person = "        target: monitoring\n        roles: [case_manager]\n"
    text = MINIMAL.replace(sent_by_a_person, "        target: monitoring\n")
    path = write(tmp_path, "warn.yaml", text)
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 0
    assert "warning: " in out
    assert out.strip().splitlines()[-1] == (
        "checked 1 workflow(s) in 1 file(s): 0 errors, 1 warning"
    )


def test_validate_json_lists_files_workflows_and_diagnostics(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder, path, line, column, _ = broken_copy(tmp_path, "brokerage")
    code, out, _ = run(capsys, "validate", "--format", "json", str(folder))
    assert code == 1
    data = json.loads(out)
    assert set(data) >= {"ok", "files", "workflows", "diagnostics"}
    assert data["ok"] is False
    assert str(path) in data["files"]
    names = {w["name"] for w in data["workflows"]}
    assert "brokerage" not in names
    assert names == {p.stem for p in WORKFLOW_FILES} - {"brokerage"}
    for w in data["workflows"]:
        assert set(w) == {"name", "version", "file"}
        assert isinstance(w["version"], int)
    (diag,) = [d for d in data["diagnostics"] if d["severity"] == "error"]
    assert set(diag) == {"file", "line", "column", "path", "message", "code", "severity", "hint"}
    assert (diag["file"], diag["line"], diag["column"]) == (str(path), line, column)


def test_validate_json_of_valid_workflows_is_ok(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", "--format=json", str(WORKFLOWS))
    assert code == 0
    data = json.loads(out)
    assert data["ok"] is True
    assert {w["name"] for w in data["workflows"]} == {p.stem for p in WORKFLOW_FILES}


def test_validate_checks_a_file_once_when_it_is_also_inside_a_given_folder(
    capsys: pytest.CaptureFixture[str],
) -> None:
    brokerage = str(WORKFLOWS / "brokerage.yaml")
    code, out, _ = run(capsys, "validate", str(WORKFLOWS), brokerage, brokerage)
    assert code == 0, out
    assert "also defined" not in out


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "no such file or folder"),
        ("empty_dir", "no workflow files"),
        ("not_yaml", "not a YAML file"),
    ],
)
def test_validate_usage_errors_exit_2_with_a_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, setup: str, message: str
) -> None:
    target = tmp_path / setup
    if setup == "empty_dir":
        target.mkdir()
        (target / "notes.txt").write_text("not a workflow", encoding="utf-8")
    elif setup == "not_yaml":
        target = write(tmp_path, "workflow.json", "{}")
    code, out, err = run(capsys, "validate", str(target))
    assert code == 2
    assert out == ""
    assert err.startswith("casework: error: ")
    assert message in err
    assert "Traceback" not in err


def test_validate_hostile_yaml_is_a_located_error_not_a_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write(tmp_path, "evil.yaml", "name: !!python/object/apply:os.system ['true']\n")
    code, out, err = run(capsys, "validate", str(path))
    assert code == 1
    assert DIAGNOSTIC_LINE.match(out.splitlines()[0])
    assert "Traceback" not in out + err


# -- describe -----------------------------------------------------------------------


def test_describe_bundled_workflow_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "describe", "brokerage")
    assert code == 0, err
    assert out.startswith("brokerage v")
    assert "Phases and states" in out
    assert "roles allowed" in out


def test_describe_file_as_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path, "outreach.yaml", MINIMAL)
    code, out, _ = run(capsys, "describe", str(path), "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert (data["name"], data["version"], data["initial"]) == ("outreach", 1, "referred")
    events = {
        e["event"]: e["roles"] for p in data["phases"] for s in p["states"] for e in s["events"]
    }
    assert events["first_contact_made"] == ["case_manager"]
    assert events["first_contact_overdue"] == []


def test_describe_invalid_workflow_prints_diagnostics_and_exits_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = MINIMAL.replace("target: planning", "target: plannig")
    path = write(tmp_path, "bad.yaml", text)
    line = text.splitlines().index("        target: plannig") + 1
    code, out, err = run(capsys, "describe", str(path))
    assert code == 1
    assert out == ""
    first = DIAGNOSTIC_LINE.match(err.splitlines()[0])
    assert first is not None
    assert (first["file"], first["line"], first["col"]) == (str(path), str(line), "17")
    assert "plannig" in first["msg"]
    assert "Traceback" not in err


def test_describe_json_of_invalid_workflow_prints_its_diagnostics_as_json(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write(tmp_path, "bad.yaml", MINIMAL.replace("target: planning", "target: plannig"))
    code, out, _ = run(capsys, "describe", str(path), "--format", "json")
    assert code == 1
    data = json.loads(out)
    assert data["ok"] is False
    assert data["error"] == "invalid-definition"
    assert [d["code"] for d in data["diagnostics"]] == ["unknown-target"]


def test_describe_fragment_file_is_not_a_workflow(capsys: pytest.CaptureFixture[str]) -> None:
    fragment = next((WORKFLOWS / "fragments").glob("*.yaml"))
    code, _, err = run(capsys, "describe", str(fragment))
    assert code == 1
    assert "fragment" in err


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_workflow", "unknown workflow 'no_such_workflow'"),
        ("missing/file.yaml", "no such file"),
        (str(WORKFLOWS), "is a folder"),
    ],
)
def test_describe_usage_errors_exit_2(
    capsys: pytest.CaptureFixture[str], spec: str, message: str
) -> None:
    code, out, err = run(capsys, "describe", spec)
    assert code == 2
    assert out == ""
    assert message in err


def test_describe_unknown_name_lists_the_bundled_workflows(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, _, err = run(capsys, "describe", "brokeage")
    for path in WORKFLOW_FILES:
        assert path.stem in err


# -- diagram ------------------------------------------------------------------------


def test_diagram_mermaid_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "diagram", "brokerage", "--format", "mermaid")
    assert code == 0
    assert out.startswith("stateDiagram-v2\n")
    assert "[*] --> " in out


def test_diagram_defaults_to_mermaid_and_can_fence_it_for_markdown(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write(tmp_path, "outreach.yaml", MINIMAL)
    code, out, _ = run(capsys, "diagram", str(path), "--markdown")
    assert code == 0
    assert out.startswith("```mermaid\nstateDiagram-v2\n")
    assert out.endswith("\n```\n")
    assert "referred --> referred : timer 3 business days first_contact_overdue" in out


def test_diagram_dot_to_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "brokerage.dot"
    code, out, _ = run(capsys, "diagram", "brokerage", "--format", "dot", "-o", str(target))
    assert code == 0
    assert str(target) in out
    text = target.read_text(encoding="utf-8")
    assert text.startswith('digraph "brokerage" {')
    assert "subgraph cluster_intake {" in text


def test_diagram_to_an_unwritable_path_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "diagram", "brokerage", "-o", str(tmp_path / "no" / "x.mmd"))
    assert code == 2
    assert "cannot write" in err


def test_diagram_of_invalid_workflow_exits_1_without_output(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write(tmp_path, "bad.yaml", MINIMAL.replace("every: P1M", "every: monthly"))
    code, out, err = run(capsys, "diagram", str(path), "--format", "dot")
    assert code == 1
    assert out == ""
    assert DIAGNOSTIC_LINE.match(err.splitlines()[0])


def test_diagram_rejects_an_unknown_format_as_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["diagram", "brokerage", "--format", "png"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


# -- schema -------------------------------------------------------------------------


def test_schema_prints_its_path_and_the_editor_settings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "schema")
    assert code == 0
    path = schema_path().resolve()
    assert f"Workflow JSON Schema: {path}" in out
    assert f"# yaml-language-server: $schema={path.as_posix()}" in out
    settings = json.loads(out[out.index("{") : out.rindex("}") + 1])
    (key,) = settings["yaml.schemas"]
    assert (Path.cwd() / key).resolve() == path
    assert settings["yaml.schemas"][key] == ["workflows/*.yaml", "workflows/**/*.yaml"]


def test_schema_settings_use_an_absolute_path_outside_the_workspace(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _, out, _ = run(capsys, "schema")
    settings = json.loads(out[out.index("{") : out.rindex("}") + 1])
    assert list(settings["yaml.schemas"]) == [schema_path().resolve().as_posix()]


def test_schema_print_outputs_the_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schema", "--print")
    assert code == 0
    assert json.loads(out) == json.loads(schema_path().read_text(encoding="utf-8"))


# -- the installed console script ---------------------------------------------------


def test_installed_console_script_validates_with_ci_exit_codes(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("casework")
    if not script.exists():
        found = shutil.which("casework")
        if found is None:
            pytest.fail("the `casework` console script is not installed (pip install -e .)")
        script = Path(found)
    folder, path, line, column, _ = broken_copy(tmp_path, "brokerage")
    result = subprocess.run(
        [str(script), "validate", "--format", "json", str(folder)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    errors = [d for d in data["diagnostics"] if d["severity"] == "error"]
    assert [(d["file"], d["line"], d["column"]) for d in errors] == [(str(path), line, column)]


# -- the quickstart stays true ------------------------------------------------------

QUICKSTART = ROOT / "docs" / "analyst-quickstart.md"


def test_quickstart_workflow_validates_and_its_documented_errors_are_what_validate_prints(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = QUICKSTART.read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(.*?)```", doc, re.S)
    assert block is not None
    monkeypatch.chdir(tmp_path)
    draft = tmp_path / "drafts" / "outreach.yaml"
    draft.parent.mkdir()
    draft.write_text(block.group(1), encoding="utf-8")
    assert run(capsys, "validate", "drafts/")[0] == 0

    broken = block.group(1).replace("target: planning", "target: planing")
    broken = broken.replace("supervisor]", "supervsor]")
    draft.write_text(broken, encoding="utf-8")
    code, out, _ = run(capsys, "validate", "drafts/")
    assert code == 1
    documented = [ln for ln in doc.splitlines() if ln.startswith("drafts/outreach.yaml:")]
    assert out.splitlines()[:-1] == documented


def test_quickstart_mermaid_is_what_diagram_prints(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    doc = QUICKSTART.read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(.*?)```", doc, re.S)
    drawn = re.search(r"(```mermaid\n.*?```\n)", doc, re.S)
    assert block is not None
    assert drawn is not None
    path = write(tmp_path, "outreach.yaml", block.group(1))
    code, out, _ = run(capsys, "diagram", str(path), "--format", "mermaid", "--markdown")
    assert code == 0
    assert out == drawn.group(1)


def test_unreadable_file_is_a_usage_error_not_a_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "outreach.yaml", MINIMAL)

    def refuse(*args: object, **kwargs: object) -> object:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("engine.cli.analyst.load_workflow", refuse)
    monkeypatch.setattr("engine.cli.analyst.check_paths", refuse)
    for argv in (["describe", str(path)], ["diagram", str(path)], ["validate", str(path)]):
        code, out, err = run(capsys, *argv)
        assert code == 2
        assert out == ""
        assert err == f"casework: error: cannot read {path}: Permission denied\n"
