"""Casework: a workflow engine for healthcare case management.

The public API is what ``__all__`` lists; everything else is internal.
"""

from __future__ import annotations

from engine.clock import Clock, ManualClock, SystemClock
from engine.errors import (
    ActionNotRegistered,
    CaseNotFound,
    ConcurrencyConflict,
    DefinitionConflict,
    DefinitionError,
    EngineError,
    EventRejected,
    IdempotencyKeyReused,
    PayloadInvalid,
    SchemaOutOfDate,
    UnknownWorkflow,
)

__all__ = [
    "ActionNotRegistered",
    "CaseNotFound",
    "Clock",
    "ConcurrencyConflict",
    "DefinitionConflict",
    "DefinitionError",
    "EngineError",
    "EventRejected",
    "IdempotencyKeyReused",
    "ManualClock",
    "PayloadInvalid",
    "SchemaOutOfDate",
    "SystemClock",
    "UnknownWorkflow",
]
