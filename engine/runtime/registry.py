"""Registered workflow definitions: every version, persisted, compiled once.

Registration compares each loaded definition with the stored row of the same
name and version: the same content hash is a no-op, a different one is a
:class:`DefinitionConflict` (the file changed without its version being
raised). Versions no longer on disk stay usable from their stored JSON, so
cases opened on them run to closure on the version they started with.
"""

from __future__ import annotations

import threading
from collections.abc import Container, Iterable
from datetime import datetime

from engine.definitions.model import WorkflowDefinition
from engine.errors import DefinitionConflict, UnknownWorkflow
from engine.runtime.machine import CompiledWorkflow
from engine.store.codec import definition_from_json, definition_to_json
from engine.store.interface import CaseStore
from engine.store.records import DefinitionRecord


class Registry:
    """Definitions by (name, version) and their compiled machines."""

    def __init__(self) -> None:
        self._defs: dict[tuple[str, int], WorkflowDefinition] = {}
        self._latest: dict[str, int] = {}
        self._compiled: dict[tuple[str, int], CompiledWorkflow] = {}
        self._lock = threading.Lock()

    def sync(self, store: CaseStore, loaded: Iterable[WorkflowDefinition], now: datetime) -> None:
        """Register ``loaded`` and read back every stored version (one transaction)."""
        loaded = list(loaded)
        seen: dict[tuple[str, int], WorkflowDefinition] = {}
        for d in loaded:
            other = seen.get(d.key)
            if other is not None and other.content_hash != d.content_hash:
                raise DefinitionConflict(
                    f"workflow {d.name!r} version {d.version} is defined twice with different "
                    f"content ({other.source_path}, {d.source_path})"
                )
            seen[d.key] = d
        with store.write() as tx:
            stored = {(r.name, r.version): r for r in tx.definitions()}
            for key, d in seen.items():
                row = stored.get(key)
                if row is None:
                    tx.insert_definition(
                        DefinitionRecord(
                            d.name,
                            d.version,
                            d.content_hash,
                            d.source_text,
                            definition_to_json(d),
                            now,
                        )
                    )
                elif row.content_hash != d.content_hash:
                    raise DefinitionConflict(
                        f"workflow {d.name!r} version {d.version} changed ({d.source_path}) but "
                        "its version was not raised: raise `version` to register the change"
                    )
        defs: dict[tuple[str, int], WorkflowDefinition] = {}
        for key, row in stored.items():
            defs[key] = definition_from_json(dict(row.ir), row.source_text)
        defs.update(seen)  # the loaded objects carry source locations exactly as on disk
        with self._lock:
            self._defs = defs
            self._latest = {}
            for name, version in defs:
                self._latest[name] = max(version, self._latest.get(name, 0))

    def unhandled_actions(
        self, registered: Container[str]
    ) -> dict[tuple[str, int], tuple[str, ...]]:
        """(name, version) -> its action names not in ``registered`` (versions with any)."""
        out: dict[tuple[str, int], tuple[str, ...]] = {}
        for d in self.all():
            missing = tuple(sorted(a for a in d.action_names() if a not in registered))
            if missing:
                out[d.key] = missing
        return out

    def all(self) -> list[WorkflowDefinition]:
        return [self._defs[k] for k in sorted(self._defs)]

    def get(self, name: str, version: int | None = None) -> WorkflowDefinition:
        if version is None:
            latest = self._latest.get(name)
            if latest is None:
                raise UnknownWorkflow(f"no workflow named {name!r} is registered")
            version = latest
        d = self._defs.get((name, version))
        if d is None:
            raise UnknownWorkflow(f"workflow {name!r} has no registered version {version}")
        return d

    def compiled(self, name: str, version: int) -> CompiledWorkflow:
        key = (name, version)
        c = self._compiled.get(key)
        if c is None:
            with self._lock:
                c = self._compiled.get(key)
                if c is None:
                    c = CompiledWorkflow(self.get(name, version))
                    self._compiled[key] = c
        return c
