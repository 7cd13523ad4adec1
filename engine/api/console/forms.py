"""Event forms from payload schemas, and form bodies back to JSON payloads.

:func:`fields_for` turns an event's JSON Schema (an object schema) into form
fields: strings (``format: date`` a date input, ``date-time`` a UTC
date-time input, ``enum`` a select), integers, numbers, booleans (a select,
so "not given" stays possible) and, for anything else, a JSON text area.
:func:`payload_from` reads the posted values back; an empty optional field
is left out. The engine validates the payload against the schema itself: the
form only has to build the right JSON types.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from engine.definitions.model import Transition, WorkflowDefinition

FIELD_PREFIX = "f_"
MAX_FIELDS = 200


class FormInvalid(ValueError):
    """A posted value cannot be read as its field's type (the message names the field)."""


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    kind: str  # text | date | datetime | integer | number | boolean | select | json
    required: bool
    options: tuple[str, ...] = ()
    description: str = ""

    @property
    def input_name(self) -> str:
        return FIELD_PREFIX + self.name


def event_schema(defn: WorkflowDefinition, state: str, event: str) -> dict[str, Any] | None:
    """The payload schema of ``event`` from ``state`` (the first transition that has one)."""
    candidates: Sequence[Transition] = [
        t for t in defn.transitions if t.source == state and t.event == event
    ]
    for t in candidates:
        if t.payload_schema:
            return t.payload_schema
    return None


def fields_for(schema: Mapping[str, Any] | None) -> list[Field]:
    if not schema:
        return []
    props = schema.get("properties")
    if not isinstance(props, Mapping):
        return []
    required = set(schema.get("required") or ())
    out: list[Field] = []
    for name, spec in list(props.items())[:MAX_FIELDS]:
        spec = spec if isinstance(spec, Mapping) else {}
        out.append(
            Field(
                name=str(name),
                kind=_kind(spec),
                required=name in required,
                options=tuple(str(v) for v in spec.get("enum") or ()),
                description=str(spec.get("description") or ""),
            )
        )
    return out


def _kind(spec: Mapping[str, Any]) -> str:
    kind = spec.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if len(kinds) == 1 else None
    if spec.get("enum") and all(isinstance(v, str) for v in spec["enum"]):
        return "select"
    if kind == "string":
        return {"date": "date", "date-time": "datetime"}.get(str(spec.get("format")), "text")
    if kind in ("integer", "number", "boolean"):
        return str(kind)
    return "json"


def parse_form(body: bytes) -> dict[str, list[str]]:
    """An ``application/x-www-form-urlencoded`` body: name -> every value given."""
    out: dict[str, list[str]] = {}
    text = body.decode("utf-8", errors="strict")
    for name, value in parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS + 20):
        out.setdefault(name, []).append(value)
    return out


def payload_from(form: Mapping[str, Sequence[str]], fields: Sequence[Field]) -> dict[str, Any]:
    """The JSON payload the posted form stands for. Raises FormInvalid."""
    payload: dict[str, Any] = {}
    for f in fields:
        raw = (form.get(f.input_name) or [""])[0].strip()
        if raw == "":
            if f.required:
                raise FormInvalid(f"{f.name} is required")
            continue
        payload[f.name] = _value(f, raw)
    return payload


def _value(f: Field, raw: str) -> Any:
    if f.kind == "integer":
        try:
            return int(raw)
        except ValueError:
            raise FormInvalid(f"{f.name} must be a whole number") from None
    if f.kind == "number":
        try:
            number = float(raw)
        except ValueError:
            raise FormInvalid(f"{f.name} must be a number") from None
        if not math.isfinite(number):
            raise FormInvalid(f"{f.name} must be a finite number")
        return int(number) if number.is_integer() and "." not in raw else number
    if f.kind == "boolean":
        if raw not in ("true", "false"):
            raise FormInvalid(f"{f.name} must be yes or no")
        return raw == "true"
    if f.kind == "datetime":  # <input type=datetime-local>: read as UTC
        return raw + (":00Z" if len(raw) == 16 else "Z")
    if f.kind == "json":
        try:
            return json.loads(raw)
        except ValueError:
            raise FormInvalid(f"{f.name} must be JSON") from None
    return raw
