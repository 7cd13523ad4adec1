"""Validate a parsed workflow document against the workflow JSON Schema.

Every jsonschema error becomes a located :class:`Diagnostic` with a message an
analyst can act on: unknown properties name the property and suggest the
closest known one, the timer ``oneOf`` and transition ``anyOf`` say what is
needed, enum errors list the allowed values.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator, ValidationError
from jsonschema.exceptions import best_match

from engine.definitions.assemble import did_you_mean
from engine.definitions.diagnostics import Diagnostic, shorten, shown
from engine.definitions.paths import schema_path
from engine.definitions.yaml_reader import JsonPath, YamlDocument

_DURATION_HINT = "an ISO 8601 duration such as P14D, P1M, PT72H, or $name of a parameter"
_NAME_PATTERN = "^[a-z][a-z0-9_]*$"
_PATTERN_MESSAGES = {
    _NAME_PATTERN: "must be snake_case: lowercase letters, digits and _, starting with a letter",
    "^([a-z][a-z0-9_]*|@previous)$": "must be a state name (snake_case) or '@previous'",
    "^\\$[a-z][a-z0-9_]*$": "must be $name of a parameter",
    "^[A-Z]{2}$": "must be a two-letter ISO 3166-1 country code such as US",
    "^\\d{4}-\\d{2}-\\d{2}$": "must be an ISO date such as 2026-12-25",
    "^[A-Za-z0-9_./-]+\\.ya?ml$": "must be a relative path of a .yaml or .yml file",
}
_ONEOF_MESSAGES = {
    "writes": "writes must be a list of field names or a mapping of case field to payload field",
    "from": "from must be 'open', a list of state names, or {phases: [...]}",
    "business_days": "business_days must be a whole number from 1 to 366 or $name of a parameter",
}
_TYPE_NAMES = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true/false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


@lru_cache(maxsize=1)
def workflow_schema() -> dict[str, Any]:
    """The workflow language schema (parsed once)."""
    with schema_path().open(encoding="utf-8") as fh:
        schema: dict[str, Any] = json.load(fh)
    return schema


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    return Draft202012Validator(workflow_schema())


def validate_document(doc: YamlDocument) -> list[Diagnostic]:
    """Every schema problem of ``doc``, located and sorted by position."""
    out: dict[tuple[Any, ...], Diagnostic] = {}
    for error in _validator().iter_errors(doc.data):
        for diag in _translate(error, doc):
            out.setdefault((diag.line, diag.column, diag.json_path, diag.message), diag)
    return sorted(_drop_consequences(list(out.values())), key=lambda d: d.sort_key)


_CHOICE_KEYS = {
    "transition-target": ("target", "internal"),
    "timer-kind": ("after", "business_days", "at", "every"),
}


def _drop_consequences(diags: list[Diagnostic]) -> list[Diagnostic]:
    """Drop "needs target" when the same object has a misspelt 'target' (say 'tragets')."""
    misspelt: set[tuple[str, str]] = set()
    for d in diags:
        if d.code == "unknown-property" and d.hint:
            parent = d.json_path.rsplit(".", 1)[0]
            for code, keys in _CHOICE_KEYS.items():
                if any(f"'{k}'" in d.hint for k in keys):
                    misspelt.add((parent, code))
    return [d for d in diags if (d.json_path, d.code) not in misspelt]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__


def _did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    return did_you_mean(word, candidates)


def _translate(error: ValidationError, doc: YamlDocument) -> list[Diagnostic]:
    path: JsonPath = tuple(error.absolute_path)
    validator = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}
    instance = error.instance
    container = isinstance(instance, dict | list)

    if validator == "additionalProperties" and isinstance(instance, dict):
        known = set(schema.get("properties", {}))
        extras = sorted(k for k in instance if k not in known)
        return [
            doc.diagnostic(
                (*path, extra),
                f"unknown property '{extra}'",
                "unknown-property",
                key=True,
                hint=_did_you_mean(extra, known),
            )
            for extra in extras
        ]
    if validator == "required":
        missing = [r for r in error.validator_value if r not in instance]
        return [
            doc.diagnostic(path, f"missing required property '{m}'", "missing-property", key=True)
            for m in missing
        ]
    if validator in ("oneOf", "anyOf"):
        return [_choice(error, doc, path)]
    if validator == "enum":
        allowed = [str(v) for v in error.validator_value]
        hint = _did_you_mean(instance, allowed) if isinstance(instance, str) else None
        return [
            doc.diagnostic(
                path,
                f"{shown(instance)} is not one of the allowed values: {', '.join(allowed)}",
                "invalid-value",
                hint=hint,
            )
        ]
    if validator == "const":
        return [doc.diagnostic(path, f"must be {shown(error.validator_value)}", "invalid-value")]
    if validator == "type":
        wanted = error.validator_value
        wanted_list = [str(w) for w in (wanted if isinstance(wanted, list) else [wanted])]
        if "number" in wanted_list and "integer" in wanted_list:
            wanted_list.remove("integer")
        words = [_TYPE_NAMES.get(w, w) for w in wanted_list]
        names = words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"
        return [
            doc.diagnostic(
                path,
                f"expected {names}, found {_json_type(instance)}",
                "wrong-type",
                key=container,
            )
        ]
    if validator == "pattern":
        # propertyNames errors carry the key as instance and the object as path
        is_key = isinstance(instance, str) and _is_property_name_error(error)
        where: JsonPath = (*path, instance) if is_key else path
        pattern = error.validator_value
        if "P(?!$)" in pattern:
            msg = f"{shown(instance)} is not {_DURATION_HINT}"
        else:
            msg = f"{shown(instance)} {_PATTERN_MESSAGES.get(pattern, f'must match {pattern}')}"
        if is_key:
            msg = f"name {msg}"
        return [
            doc.diagnostic(where, msg, "invalid-name" if is_key else "invalid-value", key=is_key)
        ]
    if validator == "maxLength" and _is_property_name_error(error):
        return [
            doc.diagnostic(
                (*path, instance),
                f"name is longer than {error.validator_value} characters",
                "invalid-name",
                key=True,
            )
        ]
    if validator == "uniqueItems":
        return [doc.diagnostic(path, "list items must be unique", "duplicate-item", key=True)]
    if validator in ("minItems", "minLength"):
        return [doc.diagnostic(path, "must not be empty", "empty-value", key=container)]
    if validator in ("minimum", "maximum", "maxLength", "maxItems"):
        bound = error.validator_value
        limits = {
            "minimum": f"must be at least {bound}",
            "maximum": f"must be at most {bound}",
            "maxLength": f"must be at most {bound} characters long",
            "maxItems": f"must have at most {bound} items",
        }
        return [doc.diagnostic(path, limits[validator], "invalid-value", key=container)]
    # anything else: jsonschema's own message (its instance is definition text, never case data)
    return [doc.diagnostic(path, shorten(error.message, 200), "schema", key=container)]


def _is_property_name_error(error: ValidationError) -> bool:
    return "propertyNames" in error.relative_schema_path or "propertyNames" in list(
        error.absolute_schema_path
    )


def _choice(error: ValidationError, doc: YamlDocument, path: JsonPath) -> Diagnostic:
    alternatives = error.validator_value
    required_sets = [
        alt.get("required") for alt in alternatives if isinstance(alt, dict) and len(alt) == 1
    ]
    container = isinstance(error.instance, dict | list)
    if len(required_sets) == len(alternatives) and all(required_sets):
        names = [r[0] for r in required_sets if r]
        if names == ["target", "internal"]:
            return doc.diagnostic(
                path,
                "a transition needs 'target' or 'internal: true'",
                "transition-target",
                key=True,
            )
        if set(names) == {"after", "business_days", "at"}:
            return doc.diagnostic(
                path,
                "an item clock needs exactly one of after, business_days, at",
                "timer-kind",
                key=True,
            )
        if set(names) == {"after", "business_days", "at", "every"}:
            return doc.diagnostic(
                path,
                "a timer needs exactly one of after, business_days, at, every",
                "timer-kind",
                key=True,
            )
        return doc.diagnostic(path, f"needs exactly one of {', '.join(names)}", "schema", key=True)
    last = path[-1] if path else None
    if isinstance(last, str) and last in _ONEOF_MESSAGES:
        return doc.diagnostic(path, _ONEOF_MESSAGES[last], "invalid-value", key=container)
    best = best_match(error.context or [])
    if best is not None:
        translated = _translate(best, doc)
        if translated:
            return translated[0]
    return doc.diagnostic(path, shorten(error.message, 200), "schema", key=container)
