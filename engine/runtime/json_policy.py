"""One JSON policy for every entrance: what a record, payload or identifier may hold.

Python's JSON parser and the Python API accept values that the databases and
the audit chain cannot keep faithfully: ``NaN``/``Infinity`` (PostgreSQL's
``json`` refuses them, SQLite reads them back as ``null``), lone UTF-16
surrogates (not encodable as UTF-8, so the history hash fails), NUL
characters (PostgreSQL text cannot hold them) and integers beyond 64 bits
(CEL evaluates signed 64-bit integers). Each is refused where it enters, as a
:class:`~engine.errors.PayloadInvalid` naming the JSON path and never the
value, identically on both databases.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from engine.errors import CaseNotFound, PayloadInvalid

MAX_PAYLOAD_BYTES = 64 * 1024  # an event payload, as JSON
MAX_RECORD_BYTES = 256 * 1024  # a case record, as JSON
INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
MAX_DEPTH = 64


def _key_path(path: str, key: str) -> str:
    if key.isidentifier():
        return f"{path}.{key}"
    return f"{path}[{key!r}]" if _text_problem(key) is None else f"{path}[?]"


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "NUL characters are not allowed"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "lone surrogate characters are not allowed (not valid Unicode text)"
    return None


def problem_of(value: Any, path: str = "$", depth: int = 0) -> tuple[str, str] | None:
    """The first (JSON path, problem) the policy finds in ``value``, or None."""
    if depth > MAX_DEPTH:
        return path, f"nested deeper than {MAX_DEPTH} levels"
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        text_problem = _text_problem(value)
        return None if text_problem is None else (path, text_problem)
    if isinstance(value, int):
        if value < INT_MIN or value > INT_MAX:
            return path, "integer outside the signed 64-bit range"
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return path, "NaN and Infinity are not JSON numbers"
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return path, "object keys must be strings"
            key_problem = _text_problem(key)
            if key_problem is not None:
                return f"{path}[?]", f"property name: {key_problem}"
            nested = problem_of(item, _key_path(path, key), depth + 1)
            if nested is not None:
                return nested
        return None
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            nested = problem_of(item, f"{path}[{i}]", depth + 1)
            if nested is not None:
                return nested
        return None
    return path, f"{type(value).__name__} is not a JSON value"


def check_json(
    value: Any, *, what: str, case_id: str | None = None, max_bytes: int | None = None
) -> None:
    """Raise PayloadInvalid when ``value`` breaks the policy or is larger than ``max_bytes``.

    The size bound is what keeps CEL evaluation bounded: guards and ``set``
    expressions see only data of this size, and comprehensions nest at most
    one deep (checked when the workflow loads), so no accepted input makes an
    expression run long.
    """
    found = problem_of(value)
    if found is not None:
        raise PayloadInvalid(what=what, json_path=found[0], problem=found[1], case_id=case_id)
    if max_bytes is not None:
        size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
        if size > max_bytes:
            raise PayloadInvalid(
                what=what,
                json_path="$",
                problem=f"larger than {max_bytes} bytes as JSON ({size})",
                case_id=case_id,
            )


def valid_identifier(text: str) -> bool:
    """Whether an id or filter value can be looked up at all (no NUL, valid Unicode)."""
    return _text_problem(text) is None


def require_case_id(case_id: str) -> None:
    """An id no case can have (NUL, lone surrogates) is simply not found."""
    if not valid_identifier(case_id):
        raise CaseNotFound(case_id.encode("utf-8", "backslashreplace").decode("ascii", "replace"))
