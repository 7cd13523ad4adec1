"""JSON Schema checks for payloads and case records, compiled once per schema.

Errors name the JSON path and the schema keyword, never the offending value:
payloads and records are protected health information.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jsonschema import FormatChecker
from jsonschema.exceptions import ValidationError, best_match
from jsonschema.validators import validator_for

from engine.errors import PayloadInvalid

_FORMATS = FormatChecker()


def _problem(err: ValidationError) -> tuple[str, str]:
    """(json path, problem) for one error, without echoing the instance."""
    path = err.json_path
    kw = str(err.validator)
    expected = err.validator_value
    if kw == "required" and isinstance(err.instance, Mapping):
        missing = [f for f in expected if f not in err.instance]
        if missing:
            return f"{path}.{missing[0]}", "required property is missing"
    if kw == "additionalProperties" and isinstance(err.instance, Mapping):
        props = err.schema.get("properties", {}) if isinstance(err.schema, Mapping) else {}
        extra = sorted(k for k in err.instance if k not in props)
        if extra:
            return f"{path}.{extra[0]}", "property is not allowed (additionalProperties)"
    if kw in ("type", "format", "minimum", "maximum", "minLength", "maxLength", "pattern"):
        return path, f"{kw}: expected {expected!r}"
    if kw in ("enum", "const"):
        return path, f"{kw}: value is not one of the allowed values"
    return path, f"fails schema keyword {kw!r}"


class SchemaCheck:
    """A compiled JSON Schema validator that raises :class:`PayloadInvalid`."""

    def __init__(self, schema: Mapping[str, Any], *, what: str) -> None:
        cls = validator_for(schema)
        self._validator = cls(schema, format_checker=_FORMATS)
        self.what = what

    def validate(self, instance: Any, *, case_id: str | None = None) -> None:
        err = best_match(self._validator.iter_errors(instance))
        if err is None:
            return
        path, problem = _problem(err)
        raise PayloadInvalid(what=self.what, json_path=path, problem=problem, case_id=case_id)
