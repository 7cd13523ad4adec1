"""Business keys: the record fields that identify a case outside Casework.

A workflow declares them under ``business_keys``, each a top-level field of
``case_schema`` typed ``string`` or ``integer``, written as the field's name or
as ``{name: ..., unique: true}``::

    business_keys:
      - patient_id                          # searchable, many cases may share it
      - {name: encounter_id, unique: true}  # at most one open case holds a value

The runtime indexes each case's key values (``case_keys``), keeps them in step
with the record, and refuses a second open case with a unique value; hosts find
cases by key and send events by key. This module is the language's half: the
IR (:class:`BusinessKey`), building it from YAML, its static checks (code
``invalid-business-key``), and :func:`key_text`, the one text form of a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.definitions.assemble import Assembled, as_dict, did_you_mean
from engine.definitions.diagnostics import Diagnostic

KEY_TYPES = frozenset({"string", "integer"})
MAX_KEY_TEXT = 500  # characters of a stored key value (case_keys.value)


@dataclass(frozen=True, slots=True)
class BusinessKey:
    """One declared business key: a top-level record field, unique among open cases or not."""

    name: str
    unique: bool = False


def _entries(raw: Any) -> list[tuple[int, str | None, bool]]:
    out: list[tuple[int, str | None, bool]] = []
    for i, item in enumerate(raw if isinstance(raw, list) else []):
        if isinstance(item, str):
            out.append((i, item, False))
        elif isinstance(item, dict):
            name = item.get("name")
            out.append((i, name if isinstance(name, str) else None, item.get("unique") is True))
    return out


def build_business_keys(data: Mapping[str, Any]) -> tuple[BusinessKey, ...]:
    """The IR of a checked workflow's ``business_keys`` (empty when it declares none)."""
    return tuple(
        BusinessKey(name, unique)
        for _, name, unique in _entries(data.get("business_keys"))
        if name is not None
    )


def business_key_diagnostics(asm: Assembled) -> list[Diagnostic]:
    """Each key must be a declared top-level string or integer field, named once."""
    out: list[Diagnostic] = []
    origin = asm.origin("business_keys")
    props = as_dict(as_dict(asm.data.get("case_schema")).get("properties"))
    seen: set[str] = set()
    for i, name, _ in _entries(asm.data.get("business_keys")):
        if name is None:
            continue  # the schema reports it
        if name in seen:
            out.append(
                origin.diag(
                    (i,), f"business key '{name}' is declared twice", "invalid-business-key"
                )
            )
            continue
        seen.add(name)
        if name not in props:
            out.append(
                origin.diag(
                    (i,),
                    f"business key '{name}' is not a top-level field of case_schema",
                    "invalid-business-key",
                    hint=did_you_mean(name, set(props)),
                )
            )
            continue
        declared = as_dict(props[name]).get("type")
        types = set(declared) if isinstance(declared, list) else {declared}
        if not types or not types <= KEY_TYPES:
            out.append(
                origin.diag(
                    (i,),
                    f"business key '{name}' must be typed string or integer in case_schema",
                    "invalid-business-key",
                )
            )
    return out


def key_text(value: Any) -> str | None:
    """The stored and searched text of a key value: a string as is, an integer in decimal.

    None for a value that cannot be a key (absent, null, another type).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    return None
