"""The :class:`~engine.runtime.engine.Engine` methods for transfers, reopening and links.

Both changes go through :meth:`Engine.send` (one transaction, idempotency keys,
expected versions): a transfer's or a reopening's event is an ordinary event of the
case's workflow that ``send`` recognises (:mod:`engine.runtime.continuity`). These
methods find the event from what the caller means (the target workflow; the case's
final state) and read back what was linked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from engine.errors import CaseNotFound
from engine.runtime.context import EngineContext
from engine.runtime.continuity import TransferResult, choose_reopening, find_transfer
from engine.runtime.json_policy import require_case_id
from engine.runtime.views import CaseView
from engine.store.records import CaseLinkRecord, CaseRecord

if TYPE_CHECKING:
    from engine.runtime.engine import Engine


@dataclass(frozen=True, slots=True)
class CaseLink:
    """A link between two cases, as seen from one of them (``direction``)."""

    kind: str  # "transfer"
    direction: str  # "to": this case continued as ``case_id``; "from": it came from it
    case_id: str  # the other case
    source_case_id: str
    source_seq: int  # the source's closing history row
    target_case_id: str
    target_seq: int  # the target's opening history row
    actor: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "direction": self.direction,
            "case_id": self.case_id,
            "source_case_id": self.source_case_id,
            "source_seq": self.source_seq,
            "target_case_id": self.target_case_id,
            "target_seq": self.target_seq,
            "actor": self.actor,
            "created_at": self.created_at.isoformat(),
        }


def _link(case_id: str, r: CaseLinkRecord) -> CaseLink:
    outgoing = r.source_case_id == case_id
    return CaseLink(
        r.kind.value,
        "to" if outgoing else "from",
        r.target_case_id if outgoing else r.source_case_id,
        r.source_case_id,
        r.source_seq,
        r.target_case_id,
        r.target_seq,
        r.actor,
        r.created_at,
    )


class CaseContinuity:
    """Mixin of :class:`~engine.runtime.engine.Engine` (which sets ``_context``)."""

    _context: EngineContext

    def _case(self, case_id: str) -> CaseRecord:
        require_case_id(case_id)
        with self._context.store.read() as tx:
            case = tx.get_case(case_id)
        if case is None:
            raise CaseNotFound(case_id)
        return case

    def transfer(
        self,
        case_id: str,
        to_workflow: str,
        payload: Mapping[str, Any] | None = None,
        *,
        actor: str,
        roles: Sequence[str],
        event: str | None = None,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
        client: str | None = None,
    ) -> TransferResult:
        """Close the case in its workflow and open it, linked, in ``to_workflow`` (one
        transaction: the workflow's declared transfer, by ``event`` when it declares
        several to that workflow).

        Raises CaseNotFound, TransferInvalid (none declared to that workflow, or the
        declaration does not fit the target), EventRejected (state, role, guard),
        PayloadInvalid (payload; the mapped record against the target's case schema,
        with its JSON path), UnknownWorkflow, BusinessKeyConflict, ConcurrencyConflict,
        IdempotencyKeyReused.
        """
        case = self._case(case_id)
        d = self._context.registry.get(case.workflow_name, case.workflow_version)
        transfer = find_transfer(d, case_id, to_workflow, event)
        engine = cast("Engine", self)
        source = engine.send(
            case_id,
            transfer.event,
            payload,
            actor=actor,
            roles=roles,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
            client=client,
        )
        out = [x for x in self.case_links(case_id) if x.direction == "to"]
        return TransferResult(source, engine.get(out[-1].case_id))

    def reopen(
        self,
        case_id: str,
        payload: Mapping[str, Any] | None = None,
        *,
        actor: str,
        roles: Sequence[str],
        event: str | None = None,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
        client: str | None = None,
    ) -> CaseView:
        """Reopen a closed case (the same case continues) by the reopening its workflow
        declares from the state it closed in (``event`` chooses among several).

        Raises CaseNotFound, ReopenDenied (``not_closed``, ``wrong_state``,
        ``role_missing``, ``window_passed``, ``window_unknown``), EventRejected (its
        guard), PayloadInvalid, BusinessKeyConflict (another open case now holds its
        key), ConcurrencyConflict, IdempotencyKeyReused.
        """
        case = self._case(case_id)
        d = self._context.registry.get(case.workflow_name, case.workflow_version)
        reopening = choose_reopening(d, case, event)
        return cast("Engine", self).send(
            case_id,
            reopening.event,
            payload,
            actor=actor,
            roles=roles,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
            client=client,
        )

    def case_links(self, case_id: str) -> list[CaseLink]:
        """The cases this one is linked to (transfers in and out), oldest first.

        Raises CaseNotFound."""
        require_case_id(case_id)
        with self._context.store.read() as tx:
            links = tx.case_links(case_id)
            if not links and tx.get_case(case_id) is None:
                raise CaseNotFound(case_id)
        return [_link(case_id, r) for r in links]
