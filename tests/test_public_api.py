"""The public API is declared in one place and every name in it resolves."""

from __future__ import annotations

import subprocess
import sys

import pytest

import engine


def test_every_name_in_all_resolves() -> None:
    missing = [name for name in engine.__all__ if getattr(engine, name, None) is None]
    assert missing == []


def test_all_is_sorted_and_unique() -> None:
    assert list(engine.__all__) == sorted(set(engine.__all__))


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        engine.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018


def test_importing_engine_loads_neither_the_database_layer_nor_the_web_framework() -> None:
    code = (
        "import sys, engine; "
        "print(sorted(m for m in ('sqlalchemy', 'fastapi', 'apscheduler', 'transitions') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"


def test_engine_core_does_not_import_fastapi() -> None:
    code = "import sys, engine; engine.Engine; engine.TimerWorker; print('fastapi' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "False"


def test_work_item_names_are_public() -> None:
    from engine.errors import EngineError

    assert {"ItemView", "ItemNotFound", "ItemIdTaken"} <= set(engine.__all__)
    assert issubclass(engine.ItemNotFound, EngineError)
    assert issubclass(engine.ItemIdTaken, EngineError)
    for name in ("add_item", "send_item", "items", "allowed_item_events"):
        assert callable(getattr(engine.Engine, name))
    assert "items" in engine.CaseView.__dataclass_fields__
