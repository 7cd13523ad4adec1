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
    AssignDenied,
    AssignmentRejected,
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
    OwnershipInputInvalid,
    PayloadInvalid,
    ReopenDenied,
    SchemaOutOfDate,
    TransferInvalid,
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
    from engine.definitions.migration_plan import MigrationPlan, TimerPolicy
    from engine.runtime.case_continuity import CaseLink
    from engine.runtime.caseload_import import ImportProblem, ImportReport
    from engine.runtime.continuity import TransferResult
    from engine.runtime.engine import Engine
    from engine.runtime.explain import CaseExplanation
    from engine.runtime.item_search import ItemMatch
    from engine.runtime.migration import CannotMove, MigrationReport, StateReport
    from engine.runtime.ownership import Assignment, BulkOutcome, BulkReport, Caseload
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
    from engine.runtime.worklists import WorklistEntry, WorklistPage
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
    # continuity: migration plans (definitions), migrating and importing cases (runtime)
    "MigrationPlan": "engine.definitions.migration_plan",
    "TimerPolicy": "engine.definitions.migration_plan",
    "CannotMove": "engine.runtime.migration",
    "MigrationReport": "engine.runtime.migration",
    "StateReport": "engine.runtime.migration",
    "ImportProblem": "engine.runtime.caseload_import",
    "ImportReport": "engine.runtime.caseload_import",
    # runtime: the engine facade and what it returns
    "Engine": "engine.runtime.engine",
    "CaseExplanation": "engine.runtime.explain",
    "CaseLink": "engine.runtime.case_continuity",  # transfers and reopening
    "TransferResult": "engine.runtime.continuity",
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
    # runtime: ownership (docs/ownership.md)
    "Assignment": "engine.runtime.ownership",
    "BulkOutcome": "engine.runtime.ownership",
    "BulkReport": "engine.runtime.ownership",
    "Caseload": "engine.runtime.ownership",
    "WorklistEntry": "engine.runtime.worklists",
    "WorklistPage": "engine.runtime.worklists",
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
    "AssignDenied",
    "Assignment",
    "AssignmentRejected",
    "AuditReport",
    "BrokenLink",
    "BulkOutcome",
    "BulkReport",
    "CannotMove",
    "CaseExplanation",
    "CaseLink",
    "CaseNotFound",
    "CaseView",
    "Caseload",
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
    "ImportProblem",
    "ImportReport",
    "ItemIdTaken",
    "ItemMatch",
    "ItemNotFound",
    "ItemQuery",
    "ItemView",
    "ManualClock",
    "MigrationPlan",
    "MigrationReport",
    "OpenDenied",
    "OutboxItem",
    "OwnershipInputInvalid",
    "Page",
    "PayloadInvalid",
    "ReopenDenied",
    "SchemaOutOfDate",
    "Simulation",
    "StateReport",
    "SystemClock",
    "TimerPolicy",
    "TimerView",
    "TimerWorker",
    "TransferInvalid",
    "TransferResult",
    "UnknownWorkflow",
    "WorkflowDefinition",
    "WorklistEntry",
    "WorklistPage",
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
