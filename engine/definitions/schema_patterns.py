"""``pattern`` and ``patternProperties`` of workflow schemas, matched in linear time only.

Payloads and case records are checked against patterns the workflow author
wrote. Python's ``re`` backtracks: ``^(a+)+$`` against 27 ``a`` and a ``!``
takes seconds, doubling per character, while holding the GIL. So every
schema pattern runs on the Rust ``regex`` engine behind ``jsonschema_rs``
(``RegexOptions``: no backtracking, time linear in the text), both in the
fast path and in the Python ``jsonschema`` validator that words the error.

That engine has no lookaround and no backreferences; a workflow whose schema
pattern needs them is refused when it loads (:func:`pattern_problems`, code
``pattern-not-linear``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

import jsonschema_rs

# jsonschema (the Python validator) is imported where it is used: importing it
# costs more than a second (its format checkers), and the runtime's hot path
# never needs it (engine/runtime/validation.py).

PathTuple = tuple[str | int, ...]

# keywords whose values are data, not subschemas: a "pattern" key inside is not a pattern
_DATA_KEYWORDS = frozenset({"enum", "const", "default", "examples"})


def linear_pattern_options() -> Any:
    """The ``pattern_options`` for ``jsonschema_rs`` validators: the linear-time engine."""
    return jsonschema_rs.RegexOptions()


@lru_cache(maxsize=1024)
def _matcher(pattern: str) -> Any:
    """A jsonschema_rs validator for ``{"pattern": pattern}``, or None if it cannot compile."""
    try:
        return jsonschema_rs.validator_for(
            {"type": "string", "pattern": pattern}, pattern_options=linear_pattern_options()
        )
    except Exception:  # not a regex the linear engine accepts
        return None


def is_linear(pattern: str) -> bool:
    """True when the linear-time engine can run ``pattern``."""
    return _matcher(pattern) is not None


def search(pattern: str, text: str) -> bool | None:
    """Whether ``pattern`` matches somewhere in ``text`` (None: the pattern is unsupported)."""
    matcher = _matcher(pattern)
    if matcher is None:
        return None
    return bool(matcher.is_valid(text))


def pattern_problems(schema: Any) -> list[tuple[PathTuple, str]]:
    """(path inside ``schema``, message) for each pattern the linear engine cannot run."""
    out: list[tuple[PathTuple, str]] = []
    for path, pattern in _patterns(schema, ()):
        if not is_linear(pattern):
            out.append(
                (
                    path,
                    "pattern is not supported: schema patterns run on a linear-time "
                    "regex engine (no lookaround, no backreferences)",
                )
            )
    return out


def _patterns(node: Any, path: PathTuple) -> Iterator[tuple[PathTuple, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield (*path, key), value
            elif key == "patternProperties" and isinstance(value, dict):
                for pattern, sub in value.items():
                    if isinstance(pattern, str):
                        yield (*path, key, pattern), pattern
                    yield from _patterns(sub, (*path, key, pattern))
            elif key not in _DATA_KEYWORDS:
                yield from _patterns(value, (*path, key))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _patterns(item, (*path, i))


def _unsupported(pattern: str) -> Any:
    from jsonschema import ValidationError

    return ValidationError(f"pattern {pattern!r} cannot be run by the linear-time regex engine")


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    if not validator.is_type(instance, "string"):
        return
    found = search(pattern, instance)
    if found is None:
        yield _unsupported(pattern)
    elif not found:
        from jsonschema import ValidationError

        yield ValidationError(f"does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: Mapping[str, Any], instance: Any, schema: Any
) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            found = search(pattern, key)
            if found is None:
                yield _unsupported(pattern)
                break
            if found:
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(
    validator: Any, additional: Any, instance: Any, schema: Any
) -> Iterator[Any]:
    """``additionalProperties`` with ``patternProperties`` keys matched in linear time."""
    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    extras = [
        key
        for key in instance
        if key not in properties and not any(search(p, key) for p in patterns)
    ]
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        from jsonschema import ValidationError

        yield ValidationError(f"{len(extras)} additional propert(y/ies) not allowed")


@lru_cache(maxsize=16)
def linear_validator_class(base: type[Any]) -> type[Any]:
    """``base`` (a jsonschema validator class) with patterns matched in linear time."""
    from jsonschema.validators import extend

    return extend(  # type: ignore[no-any-return]
        base,
        {
            "pattern": _pattern,
            "patternProperties": _pattern_properties,
            "additionalProperties": _additional_properties,
        },
    )
