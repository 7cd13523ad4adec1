"""Item types survive the stored definition JSON (workflow_definitions.ir)."""

from __future__ import annotations

import shutil
from pathlib import Path

from engine import Engine, ManualClock

DEMO = Path(__file__).resolve().parent.parent / "fixtures" / "valid" / "items_demo.yaml"


def test_item_types_are_read_back_from_the_store(database_url: str, tmp_path: Path) -> None:
    first = tmp_path / "first"
    first.mkdir()
    shutil.copy(DEMO, first / "items_demo.yaml")
    with Engine.open(database_url, workflows=first, clock=ManualClock()) as eng:
        loaded = eng.definition("items_demo")
    assert loaded.item_types
    (first / "items_demo.yaml").unlink()
    with Engine.open(database_url, workflows=first, clock=ManualClock()) as eng:
        stored = eng.definition("items_demo")
    assert stored is not loaded
    assert stored.item_types == loaded.item_types
    assert stored.transitions == loaded.transitions
