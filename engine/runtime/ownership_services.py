"""The ownership half of the :class:`engine.runtime.engine.Engine` facade (a mixin):
the staff directory, assigning, caseloads, worklists, bulk reassignment, metrics.

Each method is a thin call into :mod:`engine.runtime.ownership` or
:func:`engine.runtime.worklists.worklist`; see there for what they raise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from engine.runtime import ownership
from engine.runtime.ownership import Assignment, BulkReport, Caseload, Progress
from engine.runtime.worklists import WorklistPage, worklist
from engine.store.records import StaffRecord, StaffSource

if TYPE_CHECKING:
    from engine.runtime.context import EngineContext

__all__ = ["OwnershipServices"]


class OwnershipServices:
    """Mixed into :class:`~engine.runtime.engine.Engine`."""

    _context: EngineContext

    # -- the staff directory -----------------------------------------------------------

    def put_staff(
        self,
        person: str,
        *,
        active: bool = True,
        teams: Sequence[str] = (),
        roles: Sequence[str] = (),
        actor: str,
        client: str | None = None,
    ) -> StaffRecord:
        """Insert or replace a directory entry (audited). Raises EngineError."""
        return ownership.put_staff(
            self._context,
            person,
            active=active,
            teams=teams,
            roles=roles,
            actor=actor,
            source=StaffSource.API,
            client=client,
        )

    def import_staff(self, entries: Sequence[Mapping[str, Any]], *, actor: str) -> dict[str, int]:
        """Make the directory follow an imported file (see :func:`ownership.import_staff`)."""
        return ownership.import_staff(self._context, entries, actor=actor)

    def staff(self, person: str) -> StaffRecord | None:
        with self._context.store.read() as tx:
            return tx.get_staff(person)

    def list_staff(self, *, limit: int = 100, after: str | None = None) -> list[StaffRecord]:
        with self._context.store.read() as tx:
            return tx.list_staff(limit=limit, after=after)

    # -- assigning ---------------------------------------------------------------------

    def assign(
        self,
        case_id: str,
        assignee: str | None,
        *,
        team: str | None = None,
        reason: str,
        actor: str,
        roles: Sequence[str],
        client: str | None = None,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
    ) -> Assignment:
        """Assign (``assignee`` None: unassign) a case; a history row with actor and reason.

        Raises CaseNotFound, AssignDenied, AssignmentRejected, ConcurrencyConflict,
        IdempotencyKeyReused, EngineError."""
        return ownership.assign(
            self._context,
            case_id,
            assignee,
            team=team,
            reason=reason,
            actor=actor,
            roles=roles,
            client=client,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
        )

    def bulk_reassign(
        self,
        *,
        to: Sequence[str],
        reason: str,
        actor: str,
        roles: Sequence[str],
        case_ids: Sequence[str] | None = None,
        from_assignee: str | None = None,
        from_team: str | None = None,
        workflow: str | None = None,
        team: str | None = None,
        dry_run: bool = False,
        key: str | None = None,
        client: str | None = None,
        progress: Progress | None = None,
    ) -> BulkReport:
        """Move cases to ``to`` (see :func:`ownership.bulk_reassign`)."""
        return ownership.bulk_reassign(
            self._context,
            to=to,
            reason=reason,
            actor=actor,
            roles=roles,
            case_ids=case_ids,
            from_assignee=from_assignee,
            from_team=from_team,
            workflow=workflow,
            team=team,
            dry_run=dry_run,
            key=key,
            client=client,
            progress=progress,
        )

    # -- reads ---------------------------------------------------------------------------

    def caseloads(
        self, *, by: str = "assignee", holders: Sequence[str] | None = None
    ) -> list[Caseload]:
        """Open cases per assignee or team against the model's ratio. Raises ValueError."""
        return ownership.caseloads(self._context, by=by, holders=holders)

    def worklist(
        self,
        *,
        assignee: str | None = None,
        team: str | None = None,
        role: str | None = None,
        due_within: timedelta | None = None,
        overdue: bool = False,
        roles: Sequence[str] | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> WorklistPage:
        """Everything due for a person, a team or a role, overdue first. Raises ValueError."""
        return worklist(
            self._context,
            assignee=assignee,
            team=team,
            role=role,
            due_within=due_within,
            overdue=overdue,
            roles=roles,
            limit=limit,
            cursor=cursor,
        )

    def ownership_stats(self) -> dict[str, Any]:
        """Assigned open cases, time to first assignment (count, seconds), overdue
        deadlines per assignee and team, caseloads: what the metrics export."""
        ctx = self._context
        with ctx.store.read() as tx:
            stats = tx.ownership_stats(ctx.now(tx))
        stats["caseloads"] = {
            "assignee": self.caseloads(by="assignee"),
            "team": self.caseloads(by="team"),
        }
        return stats
