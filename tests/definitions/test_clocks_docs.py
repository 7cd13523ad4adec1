"""The clock examples in the docs are the fixture the engine tests run, verbatim."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.definitions import check_paths

ROOT = Path(__file__).resolve().parents[2]
MARKER = re.compile(r"<!-- verbatim: (\S+) -->\n```yaml\n(.*?)```", re.S)


def _blocks(doc: str) -> list[tuple[str, str]]:
    return MARKER.findall((ROOT / "docs" / doc).read_text(encoding="utf-8"))


@pytest.mark.parametrize("doc", ["timers.md"])
def test_docs_quote_the_clock_fixture_verbatim(doc: str) -> None:
    blocks = _blocks(doc)
    assert len(blocks) >= 2
    for source, text in blocks:
        fixture = (ROOT / source).read_text(encoding="utf-8")
        assert text in fixture, f"{doc} quotes {source} but the text differs"


def test_the_clock_fixture_checks_clean() -> None:
    report = check_paths([ROOT / "tests" / "fixtures" / "clocks" / "program.yaml"])
    assert [str(d) for d in report.diagnostics] == []
