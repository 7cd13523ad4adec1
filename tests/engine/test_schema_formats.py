"""Every `format` the bundled workflows use is enforced, by both validators.

The Python ``jsonschema`` verdict is final (see engine/runtime/validation.py),
and it silently accepts any format whose checker package is not installed.
So each format used in workflows/ needs its checker importable and a garbage
value rejected through :class:`SchemaCheck`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import FormatChecker

from engine.definitions.yaml_reader import read_file
from engine.errors import PayloadInvalid
from engine.runtime.validation import SchemaCheck
from tests.conftest import WORKFLOWS_DIR

# format -> (a garbage value, the module the Python checker needs; None for the stdlib)
GARBAGE: dict[str, tuple[str, str | None]] = {
    "date": ("2026-13-45", None),
    "date-time": ("next tuesday", "rfc3339_validator"),
    "time": ("25:99", "rfc3339_validator"),
    "email": ("not an address", None),
    "uri": ("::not a uri", "rfc3986_validator"),
    "duration": ("two weeks", "isoduration"),
    "uuid": ("not-a-uuid", None),
}


def _formats(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        value = node.get("format")
        if isinstance(value, str) and node.get("type") in ("string", None):
            yield value
        for child in node.values():
            yield from _formats(child)
    elif isinstance(node, list):
        for child in node:
            yield from _formats(child)


def _bundled_formats() -> list[str]:
    found: set[str] = set()
    for path in sorted(WORKFLOWS_DIR.rglob("*.yaml")):
        found.update(_formats(read_file(path, str(path)).data))
    return sorted(found)


BUNDLED = _bundled_formats()


def test_bundled_workflows_use_formats():
    assert "date" in BUNDLED
    assert "date-time" in BUNDLED


@pytest.mark.parametrize("fmt", BUNDLED)
def test_format_used_by_a_bundled_workflow_has_a_garbage_case(fmt):
    assert fmt in GARBAGE, f"add a garbage value for format {fmt!r} to this test"


@pytest.mark.parametrize("fmt", BUNDLED)
def test_format_checker_package_is_installed(fmt):
    module = GARBAGE.get(fmt, ("", None))[1]
    if module is not None:
        importlib.import_module(module)
    assert fmt in FormatChecker().checkers


@pytest.mark.parametrize("fmt", sorted(GARBAGE))
def test_python_format_checker_rejects_garbage(fmt):
    garbage, _module = GARBAGE[fmt]
    assert not FormatChecker().conforms(garbage, fmt)


@pytest.mark.parametrize("fmt", sorted(GARBAGE))
def test_schema_check_rejects_garbage_for_format(fmt):
    garbage, _module = GARBAGE[fmt]
    check = SchemaCheck(
        {"type": "object", "properties": {"when": {"type": "string", "format": fmt}}},
        what="payload",
    )
    with pytest.raises(PayloadInvalid) as info:
        check.validate({"when": garbage})
    assert info.value.json_path == "$.when"
    assert garbage not in str(info.value)


def test_hospital_date_time_fields_reject_garbage():
    from engine.definitions.loader import load_workflow

    definition = load_workflow(WORKFLOWS_DIR / "hospital.yaml")
    schemas = [definition.case_schema, *(t.payload_schema or {} for t in definition.transitions)]
    props = [
        (name, prop)
        for schema in schemas
        for name, prop in (schema.get("properties") or {}).items()
        if isinstance(prop, dict) and prop.get("format") == "date-time"
    ]
    assert props
    for name, prop in props:
        check = SchemaCheck({"type": "object", "properties": {name: prop}}, what="case record")
        check.validate({name: "2026-05-01T08:30:00Z"})
        with pytest.raises(PayloadInvalid) as info:
            check.validate({name: "garbage"})
        assert info.value.json_path == f"$.{name}"
