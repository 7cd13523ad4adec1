"""What hosts integrate with beyond open/send/read: the change feed, sending by business
key, batch access audit and readiness. Mixed into :class:`engine.runtime.engine.Engine`.

The change feed is every committed history row in commit order: each row's
``change_seq`` is assigned by the store under a lock held until its
transaction commits (see ``engine/store/change_queries.py``), so a reader that
has served position N will never later see a row below N appear. A cursor is
the position of the last row served, as text; resuming from it after a
disconnect gives no gap and no duplicate.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.runtime.audit_trail import append_access
from engine.runtime.business_keys import resolve_case
from engine.runtime.convert import history_entry
from engine.runtime.json_policy import valid_identifier
from engine.runtime.views import CaseView, HistoryEntry

if TYPE_CHECKING:
    from engine.runtime.context import EngineContext

log = logging.getLogger("engine.runtime.engine")  # readiness logs as the engine always did

__all__ = ["ChangeEntry", "ChangePage", "HostServices", "parse_change_cursor"]

MAX_CURSOR = 2**62


def parse_change_cursor(cursor: str | None) -> int:
    """The feed position a cursor names (None or empty: the beginning); ValueError otherwise."""
    if cursor is None or cursor == "":
        return 0
    if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 19:
        raise ValueError("a change cursor is a decimal position")
    value = int(cursor)
    if value > MAX_CURSOR:
        raise ValueError("a change cursor is a decimal position")
    return value


@dataclass(frozen=True, slots=True)
class ChangeEntry:
    """One committed history row in the feed: its position, workflow and the entry."""

    cursor: str
    workflow: str
    entry: HistoryEntry

    def to_dict(self) -> dict[str, Any]:
        return {"cursor": self.cursor, "workflow": self.workflow, **self.entry.to_dict()}


@dataclass(frozen=True, slots=True)
class ChangePage:
    """Entries after a cursor; ``next_cursor`` resumes after the last (the same when empty)."""

    items: tuple[ChangeEntry, ...]
    next_cursor: str


class HostServices:
    """Mixin of :class:`~engine.runtime.engine.Engine` (which sets ``_context``)."""

    _context: EngineContext

    def changes(
        self, *, after: str | None = None, workflow: str | None = None, limit: int = 100
    ) -> ChangePage:
        """Committed history entries after ``after`` (a cursor), in commit order.

        Not audited here: callers that show them record the access
        (:meth:`record_accesses`). Raises ValueError on a bad cursor.
        """
        position = parse_change_cursor(after)
        if workflow is not None and not valid_identifier(workflow):
            return ChangePage((), str(position))
        with self._context.store.read() as tx:
            rows = tx.changes_after(position, workflow=workflow, limit=limit)
        items = tuple(ChangeEntry(str(h.change_seq), name, history_entry(h)) for name, h in rows)
        return ChangePage(items, items[-1].cursor if items else str(position))

    def latest_change_cursor(self) -> str:
        """The cursor of the newest committed entry: follow the feed from now on."""
        with self._context.store.read() as tx:
            return str(tx.last_change_seq())

    def case_for_keys(self, workflow: str, keys: Mapping[str, Any]) -> str:
        """The id of the one open case of ``workflow`` with every business key value given.

        Raises UnknownWorkflow, BusinessKeyNotFound, BusinessKeyAmbiguous.
        """
        definition = self._context.registry.get(workflow)
        return resolve_case(self._context.store, definition, keys)

    def send_by_key(
        self,
        workflow: str,
        keys: Mapping[str, Any],
        event: str,
        payload: Mapping[str, Any] | None = None,
        *,
        actor: str,
        roles: Sequence[str],
        idempotency_key: str | None = None,
        expected_version: int | None = None,
        client: str | None = None,
    ) -> CaseView:
        """Send ``event`` to the one open case of ``workflow`` with these business key values.

        Raises UnknownWorkflow, BusinessKeyNotFound, BusinessKeyAmbiguous, and
        whatever :meth:`Engine.send` raises.
        """
        case_id = self.case_for_keys(workflow, keys)
        send = getattr(self, "send")  # noqa: B009 (Engine.send; the mixin does not define it)
        view: CaseView = send(
            case_id,
            event,
            payload,
            actor=actor,
            roles=roles,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
            client=client,
        )
        return view

    def record_accesses(
        self, case_ids: Iterable[str], *, actor: str, what: str, client: str | None = None
    ) -> None:
        """Audit reads of several cases in one transaction (one row per distinct case)."""
        ctx = self._context
        ids = list(dict.fromkeys(case_ids))
        if not ids:
            return
        with ctx.store.write() as tx:
            now = ctx.now(tx)
            for case_id in ids:
                append_access(tx, actor=actor, case_id=case_id, what=what, at=now, client=client)

    def check_ready(self) -> dict[str, str]:
        """Readiness: the database answers and its schema is the newest this version ships.

        ``{"database": "ok" | "unreachable", "schema": "ok" | "out_of_date" | "unknown"}``;
        never raises (a failure is logged by type only).
        """
        try:
            current, head = self._context.store.schema_status()
        except Exception as exc:  # any failure means "not ready"; logged by type only
            log.warning("readiness: database check failed (%s)", type(exc).__name__)
            return {"database": "unreachable", "schema": "unknown"}
        return {"database": "ok", "schema": "ok" if current == head else "out_of_date"}
