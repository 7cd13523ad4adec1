"""Workflow definitions: YAML -> validated, immutable model (knows nothing of runtime)."""

from __future__ import annotations

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
