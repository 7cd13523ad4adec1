"""One error hierarchy: every class has a unique code, and only the API maps codes to HTTP."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import sys
from pathlib import Path

import pytest

import engine
import engine.errors
from engine.api.problems import ENGINE_ERROR_STATUS, problem_title
from engine.errors import EngineError

ROOT = Path(__file__).resolve().parent.parent
HTTP_API_DOC = ROOT / "docs" / "http-api.md"


def _import_every_engine_module() -> None:
    skip = ("engine.__main__", "engine.store.migrations")
    for info in pkgutil.walk_packages(engine.__path__, "engine."):
        if not info.name.startswith(skip):
            importlib.import_module(info.name)


def _error_classes() -> list[type[EngineError]]:
    _import_every_engine_module()
    found: list[type[EngineError]] = []
    todo: list[type[EngineError]] = [EngineError]
    while todo:
        cls = todo.pop()
        if cls.__module__.startswith("engine.") and cls not in found:
            found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: c.__qualname__)


ERROR_CLASSES = _error_classes()


def test_the_walk_finds_the_classes_outside_engine_errors() -> None:
    names = {cls.__name__ for cls in ERROR_CLASSES}
    assert {"ExpressionError", "YamlError", "ScriptError", "ClientsFileInvalid"} <= names


def test_every_class_in_engine_errors_is_an_engine_error() -> None:
    classes = [
        obj
        for obj in vars(engine.errors).values()
        if isinstance(obj, type) and obj.__module__ == "engine.errors"
    ]
    not_errors = [c.__name__ for c in classes if not issubclass(c, EngineError)]
    assert not_errors == ["Finding"]  # the Protocol DefinitionError's diagnostics satisfy


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_every_error_class_sets_its_own_code(cls: type[EngineError]) -> None:
    assert "code" in vars(cls), f"{cls.__name__} inherits its code"
    assert re.fullmatch(r"[a-z]+(-[a-z]+)*", cls.code)


def test_error_codes_are_unique() -> None:
    by_code: dict[str, list[str]] = {}
    for cls in ERROR_CLASSES:
        by_code.setdefault(cls.code, []).append(cls.__name__)
    assert {code: names for code, names in by_code.items() if len(names) > 1} == {}


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_every_error_code_has_an_http_status_with_a_title(cls: type[EngineError]) -> None:
    assert cls.code in ENGINE_ERROR_STATUS, f"add {cls.code!r} to engine/api/problems.py"
    status = ENGINE_ERROR_STATUS[cls.code]
    assert 400 <= status <= 599
    assert problem_title(status) != "Error"


def test_the_http_table_has_no_code_without_a_class() -> None:
    assert set(ENGINE_ERROR_STATUS) - {cls.code for cls in ERROR_CLASSES} == set()


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_every_error_is_listed_in_the_problem_types_table(cls: type[EngineError]) -> None:
    doc = HTTP_API_DOC.read_text(encoding="utf-8")
    status = ENGINE_ERROR_STATUS[cls.code]
    row = rf"\| [└ ]*`{cls.__name__}`[^|]*\| `{cls.code}` \| {status} \|"
    assert re.search(row, doc), f"docs/http-api.md: no row for {cls.__name__}"


def test_engine_errors_imports_nothing_but_the_standard_library() -> None:
    tree = ast.parse(Path(engine.errors.__file__).read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= sys.stdlib_module_names | {"__future__"}
    assert imported.isdisjoint({"http", "wsgiref", "email"})  # no status tables, no web stack


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_error_classes_carry_no_http_attributes(cls: type[EngineError]) -> None:
    http_ish = [name for name in vars(cls) if "http" in name.lower() or "status" in name.lower()]
    assert http_ish == []
