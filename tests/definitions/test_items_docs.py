"""The work-items section of the language reference quotes a fixture the tests load."""

from __future__ import annotations

import re
from pathlib import Path

from engine.definitions import check_paths, load_workflow

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "workflow-language.md"
MARKER = re.compile(r"<!-- verbatim: (\S+) -->\n```yaml\n(.*?)```", re.S)


def _item_blocks() -> list[tuple[str, str]]:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("\n## Work items\n") :]
    section = section[: section.index("\n## ", 1)]
    return MARKER.findall(section)


def test_the_work_items_section_quotes_the_fixture_verbatim() -> None:
    blocks = _item_blocks()
    assert len(blocks) == 3
    for source, text in blocks:
        fixture = (ROOT / source).read_text(encoding="utf-8")
        assert text in fixture, f"workflow-language.md quotes {source} but the text differs"
    assert blocks[0][1].startswith("items:\n  referral:\n")


def test_the_quoted_example_loads_and_checks_clean() -> None:
    (source, _), *_ = _item_blocks()
    report = check_paths([ROOT / source])
    assert [str(d) for d in report.diagnostics] == []
    definition = load_workflow(ROOT / source)
    assert list(definition.item_types) == ["referral", "appointment"]
    assert definition.item_types["referral"].clocks[0].business_days == 30


def test_every_item_code_in_the_doc_is_catalogued() -> None:
    from engine.definitions.codes import DIAGNOSTIC_CODES

    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("\n## Work items\n") :]
    section = section[: section.index("\n## ", 1)]
    codes = set(re.findall(r"\(`([a-z]+(?:-[a-z]+)+)`", section))
    codes |= set(re.findall(r", `([a-z]+(?:-[a-z]+)+)`\)", section))
    assert codes
    assert codes <= set(DIAGNOSTIC_CODES), codes - set(DIAGNOSTIC_CODES)
