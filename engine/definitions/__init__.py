"""Workflow definitions: YAML -> validated, immutable model (knows nothing of runtime).

The names below are loaded on first use (PEP 562): importing
``engine.definitions.model`` (as the runtime does) must not pull in the
loader and its checkers (jsonschema, CEL's parser), which commands that only
read stored cases never need.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.definitions.diagnostics import Diagnostic
    from engine.definitions.loader import (
        CheckReport,
        check_paths,
        default_workflows_dir,
        load_workflow,
        load_workflows,
        schema_path,
    )
    from engine.definitions.model import WorkflowDefinition

_WHERE = {
    "CheckReport": "loader",
    "Diagnostic": "diagnostics",
    "WorkflowDefinition": "model",
    "check_paths": "loader",
    "default_workflows_dir": "loader",
    "load_workflow": "loader",
    "load_workflows": "loader",
    "schema_path": "loader",
}

__all__ = [
    "CheckReport",
    "Diagnostic",
    "WorkflowDefinition",
    "check_paths",
    "default_workflows_dir",
    "load_workflow",
    "load_workflows",
    "schema_path",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'engine.definitions' has no attribute {name!r}")
    value = getattr(import_module(f"engine.definitions.{module}"), name)
    globals()[name] = value
    return value
