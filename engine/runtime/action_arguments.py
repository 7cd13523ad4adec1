"""The arguments of a queued action: the workflow's CEL, evaluated in the transition's transaction.

A workflow's ``actions:`` map declares, per action name, arguments computed
by CEL over ``case`` (the record after the transition), ``event`` (its
payload; ``{}`` for timers and ``@open``), ``params`` and ``now``. The receiver
gets those and the ids, never the whole record unless ``include_record`` is
declared. An argument whose expression cannot be evaluated on this case (a
field not set yet) is ``null``, and a warning names the case, action and
argument, never a value: the state change is not undone for it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from engine.definitions.expressions import ExpressionError, compile_expression
from engine.definitions.model import WorkflowDefinition

log = logging.getLogger(__name__)


def _plain(value: Any) -> Any:
    """CEL results as JSON values (timestamps as ISO 8601, durations as seconds)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "total_seconds"):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def action_arguments(
    definition: WorkflowDefinition,
    action: str,
    *,
    case_id: str,
    record: Mapping[str, Any],
    payload: Mapping[str, Any],
    now: datetime,
) -> dict[str, Any] | None:
    """The arguments of ``action`` (None when the workflow declares none)."""
    spec = definition.action_specs.get(action)
    if spec is None:
        return None
    out: dict[str, Any] = {}
    for name, source in spec.arguments:
        try:
            value = compile_expression(source).evaluate(
                case=record, event=payload, params=definition.parameters, now=now
            )
        except ExpressionError as exc:
            log.warning(
                "case %s: argument %r of action %r is null (%s)",
                case_id,
                name,
                action,
                "missing field" if exc.missing else "evaluation failed",
            )
            value = None
        out[name] = _plain(value)
    if spec.include_record:
        out["record"] = dict(record)
    return out
