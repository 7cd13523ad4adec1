"""Casework: a workflow engine for healthcare case management.

The public API is what ``__all__`` lists; everything else is internal and may
change. Heavy parts (the database engine, the worker, the simulator) load on
first use, so ``import engine`` and ``casework validate`` stay fast.

Typical use::

    from engine import Engine

    with Engine.open("sqlite:///casework.db") as eng:
        case = eng.open_case("brokerage", record, actor="intake-svc",
                             roles=["intake_coordinator"], idempotency_key="ref-4711")
        eng.send(case.id, "first_contact_made", actor="cm-17", roles=["case_manager"])

The HTTP API lives in :mod:`engine.api` (``create_app``), which is not
re-exported here so that the core never imports FastAPI.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from engine.clock import Clock, ManualClock, SystemClock
from engine.errors import (
    CaseNotFound,
    ConcurrencyConflict,
    DefinitionConflict,
    DefinitionError,
    EngineError,
    EventRejected,
    IdempotencyKeyReused,
    ItemIdTaken,
    ItemNotFound,
    OpenDenied,
    PayloadInvalid,
    SchemaOutOfDate,
    UnknownWorkflow,
)

if TYPE_CHECKING:
    from engine.definitions import (
        CheckReport,
        Diagnostic,
        WorkflowDefinition,
        check_paths,
        default_workflows_dir,
        load_workflow,
        load_workflows,
        schema_path,
    )
    from engine.definitions.describe import describe, describe_dict
    from engine.definitions.diagram import render_dot, render_mermaid
    from engine.runtime.engine import Engine
    from engine.runtime.explain import CaseExplanation
    from engine.runtime.item_search import ItemMatch
    from engine.runtime.views import (
        ActionContext,
        AuditReport,
        BrokenLink,
        CaseView,
        EngineStats,
        EventOption,
        HistoryEntry,
        ItemView,
        OutboxItem,
        Page,
        TimerView,
    )
    from engine.scheduling.worker import TimerWorker
    from engine.simulation.simulator import Simulation
    from engine.store.records import ItemQuery

_LAZY: dict[str, str] = {
    # definitions: YAML -> checked model
    "CheckReport": "engine.definitions",
    "Diagnostic": "engine.definitions",
    "WorkflowDefinition": "engine.definitions",
    "check_paths": "engine.definitions",
    "default_workflows_dir": "engine.definitions",
    "load_workflow": "engine.definitions",
    "load_workflows": "engine.definitions",
    "schema_path": "engine.definitions",
    "describe": "engine.definitions.describe",
    "describe_dict": "engine.definitions.describe",
    "render_dot": "engine.definitions.diagram",
    "render_mermaid": "engine.definitions.diagram",
    # runtime: the engine facade and what it returns
    "Engine": "engine.runtime.engine",
    "CaseExplanation": "engine.runtime.explain",
    "ItemMatch": "engine.runtime.item_search",  # work items across cases (find_items)
    "ItemQuery": "engine.store.records",
    "ActionContext": "engine.runtime.views",
    "AuditReport": "engine.runtime.views",
    "BrokenLink": "engine.runtime.views",
    "CaseView": "engine.runtime.views",
    "EngineStats": "engine.runtime.views",
    "EventOption": "engine.runtime.views",
    "HistoryEntry": "engine.runtime.views",
    "ItemView": "engine.runtime.views",
    "OutboxItem": "engine.runtime.views",
    "Page": "engine.runtime.views",
    "TimerView": "engine.runtime.views",
    # scheduling: the timer worker and the simulator
    "Simulation": "engine.simulation.simulator",
    "TimerWorker": "engine.scheduling.worker",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "ActionContext",
    "AuditReport",
    "BrokenLink",
    "CaseExplanation",
    "CaseNotFound",
    "CaseView",
    "CheckReport",
    "Clock",
    "ConcurrencyConflict",
    "DefinitionConflict",
    "DefinitionError",
    "Diagnostic",
    "Engine",
    "EngineError",
    "EngineStats",
    "EventOption",
    "EventRejected",
    "HistoryEntry",
    "IdempotencyKeyReused",
    "ItemIdTaken",
    "ItemMatch",
    "ItemNotFound",
    "ItemQuery",
    "ItemView",
    "ManualClock",
    "OpenDenied",
    "OutboxItem",
    "Page",
    "PayloadInvalid",
    "SchemaOutOfDate",
    "Simulation",
    "SystemClock",
    "TimerView",
    "TimerWorker",
    "UnknownWorkflow",
    "WorkflowDefinition",
    "check_paths",
    "default_workflows_dir",
    "describe",
    "describe_dict",
    "load_workflow",
    "load_workflows",
    "render_dot",
    "render_mermaid",
    "schema_path",
]
