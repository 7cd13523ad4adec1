"""Small workflow definitions built in code for the scheduling unit tests."""

from __future__ import annotations

from typing import Any

from engine.definitions.durations import parse_duration
from engine.definitions.model import (
    Calendar,
    CatchUp,
    Model,
    Phase,
    State,
    Timer,
    TimerKind,
    WorkflowDefinition,
)


def timer(
    kind: str, value: Any = None, *, offset: str | None = None, catch_up: str = "once"
) -> Timer:
    k = TimerKind(kind)
    kwargs: dict[str, Any] = {}
    if k is TimerKind.AFTER:
        kwargs["after"] = parse_duration(value)
    elif k is TimerKind.EVERY:
        kwargs["every"] = parse_duration(value)
    elif k is TimerKind.BUSINESS_DAYS:
        kwargs["business_days"] = int(value)
    else:
        kwargs["at"] = value
        if offset:
            kwargs["offset"] = parse_duration(offset)
    return Timer(
        name="t", state="waiting", event="tick", kind=k, catch_up=CatchUp(catch_up), **kwargs
    )


def definition(
    *,
    timezone: str = "UTC",
    country: str = "US",
    subdivision: str | None = None,
    extra_holidays: tuple[str, ...] = (),
    parameters: dict[str, Any] | None = None,
) -> WorkflowDefinition:
    return WorkflowDefinition(
        name="unit",
        version=1,
        title="unit",
        description="",
        model=Model.BROKERAGE,
        initial="waiting",
        case_schema={"type": "object"},
        roles={},
        states={"waiting": State(name="waiting", phase=Phase.INTAKE)},
        transitions=(),
        timezone=timezone,
        calendar=Calendar(country=country, subdivision=subdivision, extra_holidays=extra_holidays),
        parameters=parameters or {},
    )
