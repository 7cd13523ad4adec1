"""Registered workflow definitions: every version, persisted, compiled once.

Registration compares each loaded definition with the stored row of the same
name and version: the same content hash is a no-op, a different one is a
:class:`DefinitionConflict` (the file changed without its version being
raised). Versions no longer on disk stay usable from their stored JSON, so
cases opened on them run to closure on the version they started with.

Versions registered by another process after this one started (a rolling
deploy: a new ``serve`` registers v2 while the old ``worker`` runs) are
picked up without a restart: a lookup of an unknown version re-reads the
definitions table at once, and "the latest version" re-checks it at most
every :attr:`Registry.refresh_seconds` with one cheap query (the table's
row count and newest id; rows are never updated or deleted).
"""

from __future__ import annotations

import threading
import time
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

    #: how stale "the latest version" may be, in seconds (a miss is never stale)
    refresh_seconds: float = 2.0

    def __init__(self) -> None:
        self._defs: dict[tuple[str, int], WorkflowDefinition] = {}
        self._latest: dict[str, int] = {}
        self._compiled: dict[tuple[str, int], CompiledWorkflow] = {}
        self._lock = threading.Lock()
        self._refreshing = threading.Lock()  # one refresh at a time
        self._store: CaseStore | None = None
        self._mark: tuple[int, int] | None = None  # (rows, newest id) of the table, as read
        self._checked = 0.0  # time.monotonic() of the last check

    def _install(self, defs: dict[tuple[str, int], WorkflowDefinition]) -> None:
        latest: dict[str, int] = {}
        for name, version in defs:
            latest[name] = max(version, latest.get(name, 0))
        with self._lock:
            self._defs = defs
            self._latest = latest

    def refresh(self, *, force: bool = False) -> bool:
        """Read versions registered elsewhere since the last read; True when any were.

        Without ``force`` at most once per :attr:`refresh_seconds`. Raises
        nothing beyond the store's connection errors.
        """
        store = self._store
        now = time.monotonic()
        if store is None or (not force and now - self._checked < self.refresh_seconds):
            return False
        with self._refreshing:
            return self._reload(store, now)

    def _reload(self, store: CaseStore, now: float) -> bool:
        self._checked = now
        with store.read() as tx:
            mark = tx.definitions_mark()
            if mark == self._mark:
                return False
            rows = tx.definitions()
        defs = dict(self._defs)
        for row in rows:
            key = (row.name, row.version)
            if key not in defs:
                defs[key] = definition_from_json(dict(row.ir), row.source_text)
        self._install(defs)
        self._mark = mark
        return True

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
        self._install(defs)
        self._store = store
        self._mark = None  # unknown until the first check reads it
        self._checked = time.monotonic()

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
        self.refresh()
        defs = self._defs
        return [defs[k] for k in sorted(defs)]

    def get(self, name: str, version: int | None = None) -> WorkflowDefinition:
        if version is None:
            self.refresh()
            latest = self._latest.get(name)
            if latest is None and self.refresh(force=True):
                latest = self._latest.get(name)
            if latest is None:
                raise UnknownWorkflow(f"no workflow named {name!r} is registered")
            version = latest
        d = self._defs.get((name, version))
        if d is None and self.refresh(force=True):
            d = self._defs.get((name, version))
        if d is None:
            raise UnknownWorkflow(f"workflow {name!r} has no registered version {version}")
        return d

    def compiled(self, name: str, version: int) -> CompiledWorkflow:
        key = (name, version)
        c = self._compiled.get(key)
        if c is None:
            definition = self.get(name, version)  # may refresh: outside the lock
            with self._lock:
                c = self._compiled.get(key)
                if c is None:
                    c = CompiledWorkflow(definition)
                    self._compiled[key] = c
        return c
