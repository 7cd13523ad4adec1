"""Resolve ``$param`` references and parse durations (shared by checks and builder)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.definitions.assemble import Assembled, as_dict, did_you_mean
from engine.definitions.durations import parse_duration, parse_offset
from engine.definitions.model import Duration


@dataclass(frozen=True)
class Problem:
    message: str
    code: str
    hint: str | None = None


def param_value(asm: Assembled, ref: str) -> tuple[Any, Problem | None]:
    """The value of ``$name``; a Problem when it is not declared."""
    name = ref[1:]
    param = asm.parameters.get(name)
    if param is None:
        return None, Problem(
            f"parameter '{name}' is not declared under parameters",
            "unknown-param",
            did_you_mean(name, asm.parameters),
        )
    return as_dict(param.data).get("value"), None


def resolve_offset(asm: Assembled, raw: Any) -> tuple[Duration | None, Problem | None]:
    """An ``offset`` literal (``P1D``, ``-P1D``) or ``$param`` -> Duration."""
    return resolve_duration(asm, raw, signed=True)


def resolve_duration(
    asm: Assembled, raw: Any, *, signed: bool = False
) -> tuple[Duration | None, Problem | None]:
    """A duration literal or ``$param`` -> Duration (``signed``: a leading ``-`` is allowed)."""
    if not isinstance(raw, str):
        return None, None  # the schema reports the type
    text = raw
    if raw.startswith("$"):
        value, problem = param_value(asm, raw)
        if problem:
            return None, problem
        if not isinstance(value, str):
            return None, Problem(
                f"parameter '{raw[1:]}' is used as a duration but its value is not "
                "an ISO 8601 duration string",
                "param-type",
            )
        text = value
    try:
        return (parse_offset(text) if signed else parse_duration(text)), None
    except ValueError as exc:
        where = f" (value of parameter '{raw[1:]}')" if raw.startswith("$") else ""
        return None, Problem(f"{exc}{where}", "invalid-duration")


def resolve_business_days(asm: Assembled, raw: Any) -> tuple[int | None, Problem | None]:
    """An integer or ``$param`` -> number of business days."""
    if isinstance(raw, bool):
        return None, None
    if isinstance(raw, int):
        return raw, None
    if not isinstance(raw, str) or not raw.startswith("$"):
        return None, None
    value, problem = param_value(asm, raw)
    if problem:
        return None, problem
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 366:
        return None, Problem(
            f"parameter '{raw[1:]}' is used as business_days but its value is not "
            "a whole number from 1 to 366",
            "param-type",
        )
    return value, None
