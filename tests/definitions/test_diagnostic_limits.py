"""A hostile file cannot amplify its size into the output, nor include files from elsewhere."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.definitions import check_paths, load_workflow
from engine.definitions.diagnostics import MAX_MESSAGE, MAX_PER_FILE, Diagnostic, cap_per_file
from engine.errors import DefinitionError
from tests.conftest import WORKFLOWS_DIR

pytestmark = pytest.mark.timeout(60)

INVALID = Path(__file__).resolve().parent.parent / "fixtures" / "invalid"


def _amplifying_workflow(tmp_path: Path, fields: int = 1000, size: int = 100_000) -> Path:
    """One ~100 kB string aliased into ``fields`` checked values (phase of each state)."""
    base = (INVALID / "unknown_target.yaml").read_text(encoding="utf-8")
    lines = [base.rstrip("\n"), "  x0:", f"    phase: &big {'a' * size}", "    description: x"]
    for i in range(1, fields):
        lines += [f"  x{i}:", "    phase: *big", "    description: x"]
    path = tmp_path / "amplify.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_aliased_value_does_not_amplify_validate_output(tmp_path, capsys):
    from engine.cli.main import main

    path = _amplifying_workflow(tmp_path)
    assert path.stat().st_size < 200_000
    report = check_paths([path])
    assert not report.ok
    assert all(len(d.message) <= MAX_MESSAGE for d in report.diagnostics)
    shown = [d for d in report.diagnostics if d.code == "invalid-value"]
    assert len(shown) == 1000  # every finding is still reported to the API
    assert "aaa\u2026" in shown[0].message

    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert len(out) < 100_000, len(out)
    lines = out.splitlines()
    assert len(lines) == MAX_PER_FILE + 2  # the shown ones, the count, the summary
    assert lines[-2].startswith(f"{path}:1:1: $: \u2026 and ")
    assert lines[-2].endswith(f" more diagnostics in {path}")
    assert lines[-1].startswith("checked 1 workflow(s) in 1 file(s): ")


def test_validate_json_output_is_capped_but_counts_everything(tmp_path, capsys):
    import json

    from engine.cli.main import main

    path = _amplifying_workflow(tmp_path, fields=300, size=1000)
    assert main(["validate", "--format", "json", str(path)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["diagnostics"]) == MAX_PER_FILE + 1
    assert doc["diagnostics"][-1]["code"] == "too-many-diagnostics"
    assert doc["summary"]["errors"] > MAX_PER_FILE


def test_load_workflow_error_message_stays_bounded(tmp_path):
    path = _amplifying_workflow(tmp_path, fields=300, size=10_000)
    with pytest.raises(DefinitionError) as info:
        load_workflow(path)
    assert len(info.value.diagnostics) >= 300
    assert len(str(info.value)) < 20_000


def test_cap_per_file_keeps_each_file_separately_and_warning_only_summary():
    def diag(file: str, i: int, severity: str = "error") -> Diagnostic:
        return Diagnostic(file, i, 1, "$", f"m{i}", "schema", severity)  # type: ignore[arg-type]

    diags = [diag("a.yaml", i) for i in range(3)] + [diag("b.yaml", i, "warning") for i in range(4)]
    capped = cap_per_file(diags, limit=2)
    assert [(d.file, d.code, d.severity) for d in capped] == [
        ("a.yaml", "schema", "error"),
        ("a.yaml", "schema", "error"),
        ("b.yaml", "schema", "warning"),
        ("b.yaml", "schema", "warning"),
        ("a.yaml", "too-many-diagnostics", "error"),
        ("b.yaml", "too-many-diagnostics", "warning"),
    ]
    assert capped[-1].message == "\u2026 and 2 more diagnostics in b.yaml"


def test_long_message_is_cut_with_an_ellipsis():
    d = Diagnostic("f.yaml", 1, 1, "$", "x" * 10_000, "schema", hint="y" * 10_000)
    assert len(d.message) == MAX_MESSAGE
    assert d.message.endswith("\u2026")
    assert d.hint is not None
    assert len(d.hint) == MAX_MESSAGE


# -- include confinement ------------------------------------------------------------


def _tree(tmp_path: Path, include: str) -> Path:
    """root/wf/hospital.yaml including ``include``; root/secret.yaml is outside its folder."""
    wf = tmp_path / "root" / "wf"
    (wf / "fragments").mkdir(parents=True)
    text = (WORKFLOWS_DIR / "hospital.yaml").read_text(encoding="utf-8")
    assert "  - fragments/closure.yaml\n" in text
    main = wf / "hospital.yaml"
    main.write_text(text.replace("  - fragments/closure.yaml\n", f"  - {include}\n"), "utf-8")
    shutil.copy(WORKFLOWS_DIR / "fragments" / "closure.yaml", tmp_path / "root" / "secret.yaml")
    return main


def _include_line(main: Path) -> int:
    lines = main.read_text(encoding="utf-8").splitlines()
    return lines.index("include:") + 2


def _assert_refused(main: Path) -> None:
    report = check_paths([main])
    errors = [d for d in report.diagnostics if d.code == "include-outside"]
    assert len(errors) == 1, [str(d) for d in report.diagnostics]
    (d,) = errors
    assert (d.file, d.line, d.column, d.json_path) == (
        str(main),
        _include_line(main),
        5,
        "$.include[0]",
    )
    assert "leaves this workflow's folder" in d.message
    secret = str(main.parent.parent / "secret.yaml")
    assert not any(Path(x.file).resolve() == Path(secret).resolve() for x in report.diagnostics)


def test_include_with_dotdot_escape_is_refused(tmp_path):
    _assert_refused(_tree(tmp_path, "../secret.yaml"))


def test_include_through_dotdot_inside_a_subfolder_is_refused(tmp_path):
    _assert_refused(_tree(tmp_path, "fragments/../../secret.yaml"))


def test_include_through_a_symlink_leading_outside_is_refused(tmp_path):
    main = _tree(tmp_path, "fragments/closure.yaml")
    (main.parent / "fragments" / "closure.yaml").symlink_to(tmp_path / "root" / "secret.yaml")
    _assert_refused(main)


def test_include_inside_the_folder_tree_still_loads(tmp_path):
    main = _tree(tmp_path, "fragments/closure.yaml")
    shutil.copy(WORKFLOWS_DIR / "fragments" / "closure.yaml", main.parent / "fragments")
    assert load_workflow(main).name == "hospital"
