"""Where the workflow JSON Schema and the bundled workflows live.

In a source checkout they are ``schemas/`` and ``workflows/`` at the
repository root; in an installed wheel they are packaged under
``engine/_data/``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent  # engine/
_SOURCE_ROOT = _PACKAGE.parent
_SCHEMA = Path("schemas") / "workflow.schema.json"


def schema_path() -> Path:
    """The workflow language's JSON Schema (2020-12)."""
    bundled = _PACKAGE / "_data" / _SCHEMA
    if bundled.is_file():  # an installed wheel
        return bundled
    return _SOURCE_ROOT / _SCHEMA


def default_workflows_dir() -> Path:
    """The folder of bundled workflow definitions."""
    bundled = _PACKAGE / "_data" / "workflows"
    if bundled.is_dir():  # an installed wheel
        return bundled
    return _SOURCE_ROOT / "workflows"
