"""JSON Schema checks for payloads and case records, compiled once per schema.

Errors name the JSON path and the schema keyword, never the offending value:
payloads and records are protected health information.

The hot path asks ``jsonschema_rs`` (Rust, formats checked) whether the
instance is valid; only when it says no does the Python ``jsonschema``
validator run, and its verdict is final. So the semantics are exactly those
of ``jsonschema`` (an instance Rust rejects but Python accepts is accepted),
and the common valid case costs microseconds instead of a tree walk.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine.definitions.schema_patterns import linear_pattern_options, linear_validator_class
from engine.errors import PayloadInvalid
from engine.timing.calendar import zone
from engine.timing.due import CASE_TIMEZONE_FIELD

if TYPE_CHECKING:
    from jsonschema.exceptions import (  # type: ignore[import-untyped, unused-ignore]
        ValidationError,
    )

_rs: Any
try:
    import jsonschema_rs as _rs
except ImportError:  # pragma: no cover - optional speed-up
    _rs = None

_formats: Any = None


def _python_validator(schema: Mapping[str, Any]) -> Any:
    """The Python ``jsonschema`` validator (imported on first need: it is slow to import)."""
    global _formats
    from jsonschema import FormatChecker  # type: ignore[import-untyped, unused-ignore]
    from jsonschema.validators import (  # type: ignore[import-untyped, unused-ignore]
        validator_for,
    )

    if _formats is None:
        _formats = FormatChecker()
    # patterns run on a linear-time engine in both validators (no ReDoS)
    cls = linear_validator_class(validator_for(dict(schema)))
    return cls(schema, format_checker=_formats)


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
        self._schema = schema
        self.what = what
        self._fast: Any = None
        if _rs is not None:
            try:
                self._fast = _rs.validator_for(
                    schema, validate_formats=True, pattern_options=linear_pattern_options()
                )
            except Exception:  # a schema the Rust validator cannot compile: Python only
                self._fast = None
        # the Python validator decides every instance the Rust one rejects; built
        # when first needed (or now, when it is the only one)
        self._validator: Any = None if self._fast is not None else _python_validator(schema)

    def validate(self, instance: Any, *, case_id: str | None = None) -> None:
        if self._fast is not None:
            try:
                if self._fast.is_valid(instance):
                    return
            except Exception:  # noqa: S110 - e.g. a value it cannot convert: let Python decide
                pass
        from jsonschema.exceptions import best_match  # type: ignore[import-untyped, unused-ignore]

        if self._validator is None:
            self._validator = _python_validator(self._schema)
        err = best_match(self._validator.iter_errors(instance))
        if err is None:
            return
        path, problem = _problem(err)
        raise PayloadInvalid(what=self.what, json_path=path, problem=problem, case_id=case_id)


class CaseRecordCheck(SchemaCheck):
    """The workflow's case schema, plus: a ``timezone`` field names a known zone.

    A case record may carry its own IANA time zone (``timezone``), which its
    deadlines are then computed in instead of the workflow's (see
    :func:`engine.timing.due.timezone_of`). It is checked here, wherever
    the record is validated (when the case opens and after every change), so
    an unknown zone is a clear error at ``$.timezone`` and never reaches a
    timer.
    """

    def __init__(self, schema: Mapping[str, Any]) -> None:
        super().__init__(schema, what="case record")

    def validate(self, instance: Any, *, case_id: str | None = None) -> None:
        super().validate(instance, case_id=case_id)
        value = instance.get(CASE_TIMEZONE_FIELD) if isinstance(instance, Mapping) else None
        if isinstance(value, str):
            try:
                zone(value)
            except ValueError:
                raise PayloadInvalid(
                    what=self.what,
                    json_path=f"$.{CASE_TIMEZONE_FIELD}",
                    problem="not a known IANA time zone (e.g. America/Chicago)",
                    case_id=case_id,
                ) from None
