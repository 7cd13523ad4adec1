"""Every bundled workflow checks clean, and a broken copy of any of them gives located errors."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from engine.definitions import check_paths, default_workflows_dir

WORKFLOWS = default_workflows_dir()
FILES = sorted(
    p for p in WORKFLOWS.glob("*.yaml") if not p.read_text(encoding="utf-8").startswith("fragment:")
)
TARGET_LINE = re.compile(r"^(\s+target: )([a-z][a-z0-9_]*)\s*$")


def test_bundled_workflows_check_clean():
    report = check_paths([WORKFLOWS])
    assert report.ok, "\n".join(str(d) for d in report.errors)
    assert [str(d) for d in report.diagnostics] == []
    assert len(report.definitions) == len(FILES)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_broken_copy_of_a_bundled_workflow_gives_a_located_error(path: Path, tmp_path: Path):
    copy = tmp_path / "workflows"
    shutil.copytree(WORKFLOWS, copy)
    target = copy / path.name
    lines = target.read_text(encoding="utf-8").splitlines(keepends=True)
    for number, line in enumerate(lines, start=1):
        m = TARGET_LINE.match(line)
        if m:
            lines[number - 1] = f"{m.group(1)}{m.group(2)}_typo\n"
            column = len(m.group(1)) + 1
            break
    else:
        pytest.skip("no plain target line to break")
    target.write_text("".join(lines), encoding="utf-8")
    report = check_paths([copy])
    errors = report.errors
    assert [(d.code, d.file, d.line, d.column) for d in errors] == [
        ("unknown-target", str(target), number, column)
    ]
    assert errors[0].hint == f"did you mean '{m.group(2)}'?"
    assert errors[0].json_path.endswith(".target")
    assert len(report.definitions) == len(FILES) - 1
