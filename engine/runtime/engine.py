"""The engine facade: open cases, send events, read them back, fire timers, deliver actions.

Every change runs in one database transaction: lock the case (``FOR UPDATE``
on PostgreSQL; ``BEGIN IMMEDIATE`` on SQLite), check the expected version and
the idempotency key, apply the event through the workflow's state machine,
update the case with a version check, append the hash-chained history row,
arm/pause/resume/cancel timers and queue outbox rows. Either all of it
commits or none of it does.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.clock import Clock, SystemClock
from engine.definitions.model import WorkflowDefinition
from engine.errors import CaseNotFound, ConcurrencyConflict, DuplicateKey, EngineError
from engine.runtime import access, case_search, delivery, firing, item_search, items_api
from engine.runtime.audit import fingerprint
from engine.runtime.audit_trail import Checkpoint, append_access, take_checkpoint, verify_audit
from engine.runtime.business_keys import search_keys
from engine.runtime.case_continuity import CaseContinuity
from engine.runtime.context import Action, EngineContext
from engine.runtime.continuity import check_reopen, transfer_case
from engine.runtime.convert import (
    case_view,
    history_entry,
    outbox_item,
    timer_view,
)
from engine.runtime.cursors import decode_cursor, encode_cursor
from engine.runtime.explain import CaseExplanation, explain_case
from engine.runtime.host_services import HostServices
from engine.runtime.idempotency import remember, replay, run_idempotent
from engine.runtime.inspection import allowed_events as _allowed_events
from engine.runtime.item_search import ItemMatch
from engine.runtime.json_policy import (
    MAX_PAYLOAD_BYTES,
    MAX_RECORD_BYTES,
    check_json,
    require_case_id,
    valid_identifier,
)
from engine.runtime.ownership import gate_unassigned, require_assignee
from engine.runtime.ownership_services import OwnershipServices
from engine.runtime.pull import Actions
from engine.runtime.registry import Registry
from engine.runtime.transact import HistoryFacts, case_items, commit_applied
from engine.runtime.transact import open_case as _open_case
from engine.runtime.views import (
    AuditReport,
    CaseView,
    EngineStats,
    EventOption,
    HistoryEntry,
    ItemView,
    OutboxItem,
    Page,
    TimerView,
)
from engine.runtime.worklists import SearchPage, search_cases
from engine.store import open_store
from engine.store.interface import CaseStore, StoreTransaction
from engine.store.records import CaseQuery, CaseSort, HistoryOutcome, ItemQuery, OutboxStatus

if TYPE_CHECKING:
    from engine.definitions.migration_plan import MigrationPlan
    from engine.runtime.caseload_import import ImportReport
    from engine.runtime.migration import MigrationReport

log = logging.getLogger(__name__)

_RETRIES = 3


def _paths(workflows: str | Path | Sequence[str | Path] | None) -> list[str | Path]:
    if workflows is None:
        from engine.definitions import default_workflows_dir

        return [default_workflows_dir()]
    if isinstance(workflows, str | Path):
        return [workflows]
    return list(workflows)


class Engine(HostServices, OwnershipServices, CaseContinuity):
    """Durable cases driven by workflow definitions (see the module docstring)."""

    def __init__(self, context: EngineContext) -> None:
        self._context = context
        self.actions = Actions(context)  # delivery configuration and pull workers' calls

    @classmethod
    def open(
        cls,
        database_url: str = "sqlite:///casework.db",
        *,
        workflows: str | Path | Sequence[str | Path] | None = None,
        clock: Clock | None = None,
        actions: Mapping[str, Action] | None = None,
        upgrade: bool | None = None,
        store: CaseStore | None = None,
    ) -> Engine:
        """Connect, check or create the schema, load and register the workflows.

        ``store`` replaces the store :func:`engine.store.open_store` would open
        for ``database_url`` (a wrapped store in tests, say). Logs one warning
        listing the actions no handler is registered for (see
        :meth:`unhandled_actions`). Raises DefinitionError (invalid files),
        DefinitionConflict (a file changed without its version being raised),
        SchemaOutOfDate.
        """
        paths = _paths(workflows)  # none (``()``): only the stored definitions, no loader
        loaded = []
        if paths:
            from engine.definitions import load_workflows

            loaded = load_workflows(paths)
        return cls._from_definitions(
            database_url, loaded, clock=clock, actions=actions, upgrade=upgrade, store=store
        )

    @classmethod
    def _from_definitions(
        cls,
        database_url: str,
        loaded: Sequence[WorkflowDefinition],
        *,
        clock: Clock | None = None,
        actions: Mapping[str, Action] | None = None,
        upgrade: bool | None = None,
        store: CaseStore | None = None,
    ) -> Engine:
        clock = clock or SystemClock()
        store = store if store is not None else open_store(database_url)
        try:
            store.ensure_schema(upgrade)
            registry = Registry()
            for attempt in range(_RETRIES):
                try:
                    registry.sync(store, loaded, clock.now())
                    break
                except DuplicateKey:  # another process registered the same version
                    if attempt == _RETRIES - 1:
                        raise
        except BaseException:
            store.close()
            raise
        context = EngineContext(
            store=store,
            registry=registry,
            clock=clock,
            use_db_clock=store.has_database_clock and isinstance(clock, SystemClock),
            actions=dict(actions or {}),
        )
        engine = cls(context)
        engine._warn_unhandled_actions()
        return engine

    # -- lifecycle ---------------------------------------------------------------

    def close(self) -> None:
        self.actions.close()
        self._context.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def clock(self) -> Clock:
        return self._context.clock

    @property
    def outbox_max_attempts(self) -> int:
        return self._context.outbox_max_attempts

    @outbox_max_attempts.setter
    def outbox_max_attempts(self, value: int) -> None:
        self._context.outbox_max_attempts = value

    def register_action(self, name: str, fn: Action) -> None:
        self._context.actions[name] = fn

    def unhandled_actions(self) -> dict[tuple[str, int], tuple[str, ...]]:
        """(workflow, version) -> the action names it queues that no handler is registered for.

        Only versions with at least one such action are listed. Their outbox
        items would be dead-lettered on delivery (``ActionNotRegistered``).
        """
        return self.actions.unhandled()

    def _warn_unhandled_actions(self) -> None:
        missing = self.unhandled_actions()
        if missing:
            listed = "; ".join(
                f"{n} v{v}: {', '.join(a[:8])}" + (f" and {len(a) - 8} more" if len(a) > 8 else "")
                for (n, v), a in missing.items()
            )
            log.warning(
                "%d action names have no registered handler; their outbox items are "
                "dead-lettered until one is registered (Engine.unhandled_actions() lists "
                "all): %s",
                sum(len(a) for a in missing.values()),
                listed,
            )

    # -- definitions -------------------------------------------------------------

    def definitions(self) -> list[WorkflowDefinition]:
        return self._context.registry.all()

    def definition(self, name: str, version: int | None = None) -> WorkflowDefinition:
        """Raises UnknownWorkflow."""
        return self._context.registry.get(name, version)

    # -- changes -----------------------------------------------------------------

    def open_case(
        self,
        workflow: str,
        data: Mapping[str, Any],
        *,
        actor: str,
        roles: Sequence[str],
        idempotency_key: str | None = None,
        client: str | None = None,
    ) -> CaseView:
        """Open a case on the newest version of ``workflow``; ``client`` acts for ``actor``.

        Raises UnknownWorkflow, OpenDenied (no role of its ``open_roles``), PayloadInvalid
        (record vs case schema), IdempotencyKeyReused, BusinessKeyConflict.
        """
        ctx = self._context
        definition = ctx.registry.get(workflow)
        definition.check_may_open(roles)
        compiled = ctx.registry.compiled(definition.name, definition.version)
        check_json(data, what="case record", max_bytes=MAX_RECORD_BYTES)
        record = {**compiled.defaults, **data}  # top-level schema defaults fill absent fields
        compiled.case_check.validate(record)
        facts = HistoryFacts(actor, tuple(roles), record, idempotency_key, client=client)
        fp = None
        if idempotency_key is not None:
            fp = fingerprint(
                {
                    "op": "open",
                    "workflow": workflow,
                    "data": record,
                    "actor": actor,
                    "roles": sorted(roles),
                    **({"client": client} if client is not None else {}),
                }
            )

        def attempt(tx: StoreTransaction) -> CaseView:
            replayed = replay(tx, idempotency_key, fp)
            if replayed is not None:
                return replayed
            now = ctx.now(tx)
            view = _open_case(
                tx, compiled, case_id=str(uuid.uuid4()), record=record, facts=facts, now=now
            )
            remember(tx, idempotency_key, fp, view, now)
            return view

        return run_idempotent(self._context.store, idempotency_key, attempt)

    def send(
        self,
        case_id: str,
        event: str,
        payload: Mapping[str, Any] | None = None,
        *,
        actor: str,
        roles: Sequence[str],
        idempotency_key: str | None = None,
        expected_version: int | None = None,
        client: str | None = None,
    ) -> CaseView:
        """Send ``event`` to a case; ``client`` acts on behalf of ``actor``.

        Raises CaseNotFound, EventRejected (wrong state / guard false / role
        missing), PayloadInvalid, ConcurrencyConflict, IdempotencyKeyReused; for a
        transfer's event (see :meth:`transfer`) or a reopening's (:meth:`reopen`) also
        what those raise.
        """
        ctx = self._context
        require_case_id(case_id)
        body = dict(payload or {})
        check_json(
            body, what=f"payload of event {event}", case_id=case_id, max_bytes=MAX_PAYLOAD_BYTES
        )
        facts = HistoryFacts(actor, tuple(roles), body, idempotency_key, client=client)
        fp = None
        if idempotency_key is not None:
            fp = fingerprint(
                {
                    "op": "send",
                    "case": case_id,
                    "event": event,
                    "payload": body,
                    "actor": actor,
                    "roles": sorted(roles),
                    "expected_version": expected_version,
                    **({"client": client} if client is not None else {}),
                }
            )

        def attempt(tx: StoreTransaction) -> CaseView:
            locked = tx.lock_case(case_id, with_db_now=ctx.use_db_clock)
            if locked is None:
                raise CaseNotFound(case_id)
            case, db_now = locked
            replayed = replay(tx, idempotency_key, fp)
            if replayed is not None:
                return replayed
            if expected_version is not None and expected_version != case.version:
                raise ConcurrencyConflict(
                    case_id=case_id,
                    expected_version=expected_version,
                    actual_version=case.version,
                    state=case.state,
                )
            now = db_now if db_now is not None else ctx.clock.now()
            compiled = ctx.registry.compiled(case.workflow_name, case.workflow_version)
            d = compiled.definition
            transfer = d.transfer(event)
            if transfer is not None:  # closes here, opens the linked case: continuity.py
                moved = transfer_case(ctx, tx, case, transfer, body, facts, now).source
                remember(tx, idempotency_key, fp, moved, now)
                return moved
            reopening = d.reopening(event)
            if reopening is not None:
                check_reopen(d, case, reopening, roles, body, now)
            applied = compiled.apply(
                case_id=case_id,
                state=case.state,
                previous_state=case.previous_state,
                event=event,
                payload=body,
                record=case.record,
                roles=roles,
                now=now,
                items=case_items(tx, compiled, case_id),
            )
            if applied.entered and compiled.definition.states[applied.to_state].requires_assignee:
                require_assignee(tx, case, event, applied.to_state)
            outcome = HistoryOutcome.REOPENED if reopening is not None else None
            view = commit_applied(
                tx, compiled, case, applied, event=event, facts=facts, now=now, outcome=outcome
            )
            assert view is not None
            remember(tx, idempotency_key, fp, view, now)
            return view

        return run_idempotent(self._context.store, idempotency_key, attempt)

    # -- work items ----------------------------------------------------------------

    def add_item(
        self,
        case_id: str,
        item_type: str,
        payload: Mapping[str, Any] | None = None,
        *,
        actor: str,
        roles: Sequence[str],
        item_id: str | None = None,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
        client: str | None = None,
    ) -> CaseView:
        """Add a work item of ``item_type`` to a case (``item_id`` default ``<type>-<n>``).

        Raises CaseNotFound, EventRejected (unknown type, role missing, case state not
        allowed, maximum reached), ItemIdTaken, PayloadInvalid (data vs the item schema),
        ConcurrencyConflict, IdempotencyKeyReused.
        """
        return items_api.add_item(
            self._context,
            case_id,
            item_type,
            dict(payload or {}),
            actor=actor,
            roles=roles,
            item_id=item_id,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
            client=client,
        )

    def send_item(
        self,
        case_id: str,
        item_id: str,
        event: str,
        payload: Mapping[str, Any] | None = None,
        *,
        actor: str,
        roles: Sequence[str],
        idempotency_key: str | None = None,
        expected_version: int | None = None,
        client: str | None = None,
    ) -> CaseView:
        """Send ``event`` to a work item of a case.

        Raises CaseNotFound, ItemNotFound, EventRejected (closed item, wrong item state,
        role missing, guard false), PayloadInvalid, ConcurrencyConflict,
        IdempotencyKeyReused.
        """
        return items_api.send_item(
            self._context,
            case_id,
            item_id,
            event,
            dict(payload or {}),
            actor=actor,
            roles=roles,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
            client=client,
        )

    def items(
        self, case_id: str, *, item_type: str | None = None, state: str | None = None
    ) -> list[ItemView]:
        """The case's work items (of a type, in a state), oldest first. Raises CaseNotFound."""
        return items_api.items(self._context, case_id, item_type=item_type, state=state)

    def item(self, case_id: str, item_id: str) -> ItemView:
        """One work item of a case. Raises CaseNotFound, ItemNotFound."""
        return items_api.item(self._context, case_id, item_id)

    def allowed_item_events(
        self, case_id: str, item_id: str, roles: Sequence[str]
    ) -> list[EventOption]:
        """Every event of the item's type: allowed now, or why not.

        Raises CaseNotFound, ItemNotFound.
        """
        return items_api.allowed_item_events(self._context, case_id, item_id, frozenset(roles))

    # -- reads -------------------------------------------------------------------

    def get(self, case_id: str) -> CaseView:
        """Raises CaseNotFound."""
        require_case_id(case_id)
        store = self._context.store
        with store.read() as tx:
            case = tx.get_case(case_id)
            if case is None:
                raise CaseNotFound(case_id)
            timers = [timer_view(t) for t in tx.live_timers_of(case_id)]
            return case_view(case, timers, tx.items_of(case_id))

    def history(self, case_id: str) -> list[HistoryEntry]:
        """Raises CaseNotFound."""
        require_case_id(case_id)
        store = self._context.store
        with store.read() as tx:
            rows = tx.history(case_id)
            if not rows and tx.get_case(case_id) is None:
                raise CaseNotFound(case_id)
            return [history_entry(r) for r in rows]

    def allowed_events(self, case_id: str, roles: Sequence[str]) -> list[EventOption]:
        """Every event of the case's workflow: allowed now, or why not. Raises CaseNotFound."""
        require_case_id(case_id)
        store = self._context.store
        with store.read() as tx:
            case = tx.get_case(case_id)
            owner = tx.get_owner(case_id) if case is not None else None
        if case is None:
            raise CaseNotFound(case_id)
        compiled = self._context.registry.compiled(case.workflow_name, case.workflow_version)
        items = None
        if compiled.definition.item_types:
            with store.read() as tx:
                items = case_items(tx, compiled, case_id)
        options = _allowed_events(
            compiled, case, frozenset(roles), self._context.clock.now(), items=items
        )
        assigned = owner is not None and owner.assignee is not None
        return gate_unassigned(compiled, case, options, assigned)

    def find(
        self,
        *,
        workflow: str | None = None,
        state: str | None = None,
        phase: str | None = None,
        overdue: bool | None = None,
        opened_after: datetime | None = None,
        opened_before: datetime | None = None,
        closed: bool | None = None,
        limit: int = 50,
        cursor: str | None = None,
        sort: CaseSort | str = CaseSort.OPENED,
        with_total: bool = False,
        keys: Mapping[str, Any] | None = None,
        item_type: str | None = None,
        item_state: str | None = None,
        item_overdue: bool | None = None,
    ) -> Page[CaseView]:
        """Cases matching every filter given (``keys``: business key values; ``item_type``,
        ``item_state``, ``item_overdue``: holding such a work item, the same item when several
        are given), oldest first (``sort="due"``: most late first), with ``Page.total`` when
        ``with_total``; raises ValueError on a bad cursor (:mod:`engine.runtime.case_search`)."""
        pairs = search_keys(keys)
        names = (workflow, state, phase, item_type, item_state, *dict(pairs or ()))
        if pairs is None or not all(
            valid_identifier(v) for v in names if v is not None
        ):  # no case can match such a filter
            return Page(items=(), next_cursor=None, total=0 if with_total else None)
        query = CaseQuery(
            workflow,
            state,
            phase,
            overdue,
            opened_after,
            opened_before,
            closed,
            pairs,
            item_type=item_type,
            item_state=item_state,
            item_overdue=item_overdue,
        )
        return case_search.find(
            self._context, query, limit=limit, cursor=cursor, sort=sort, with_total=with_total
        )

    def find_items(
        self,
        query: ItemQuery | None = None,
        *,
        limit: int = 50,
        cursor: str | None = None,
        with_total: bool = False,
    ) -> Page[ItemMatch]:
        """Work items of every case matching ``query`` (workflow, item type, state, open,
        overdue), oldest opened first, with ``Page.total`` when ``with_total``; raises
        ValueError on a bad cursor or limit (:mod:`engine.runtime.item_search`)."""
        query = query or ItemQuery()
        names = (query.workflow, query.item_type, query.state)
        if not all(valid_identifier(v) for v in names if v is not None):
            return Page(items=(), next_cursor=None, total=0 if with_total else None)
        return item_search.find_items(
            self._context, query, limit=limit, cursor=cursor, with_total=with_total
        )

    def timers(
        self,
        *,
        case_id: str | None = None,
        status: str | None = "pending",
        due_before: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[TimerView]:
        store = self._context.store
        after_id = int(decode_cursor(cursor)[0]) if cursor else None
        with store.read() as tx:
            rows = tx.list_timers(
                case_id=case_id,
                status=status,
                due_before=due_before,
                limit=limit,
                after_id=after_id,
            )
        nxt = encode_cursor([rows[-1].id]) if len(rows) == limit else None
        return Page(items=tuple(timer_view(r) for r in rows), next_cursor=nxt)

    def outbox(
        self, *, status: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> Page[OutboxItem]:
        store = self._context.store
        after_id = int(decode_cursor(cursor)[0]) if cursor else None
        with store.read() as tx:
            rows = tx.list_outbox(status=status, limit=limit, after_id=after_id)
        nxt = encode_cursor([rows[-1].id]) if len(rows) == limit else None
        return Page(items=tuple(outbox_item(r) for r in rows), next_cursor=nxt)

    def search(self, query: CaseQuery, **page: Any) -> SearchPage:
        """:func:`engine.runtime.worklists.search_cases` (sort, limit, cursor, count)."""
        return search_cases(self._context, query, **page)

    def explain(self, case_id: str) -> CaseExplanation:
        """Why the case is where it is: time in state, deadlines, what would move it.

        Built from the reads above only (see :mod:`engine.runtime.explain`); not
        audited here: callers that show it record the access. Raises CaseNotFound.
        """
        return explain_case(self, case_id)

    def retry_outbox(self, item_id: int, *, actor: str) -> OutboxItem:
        """Make a dead or pending outbox item pending and due now, with a fresh retry budget.

        Audited in the access log. Raises EngineError for an unknown or delivered item.
        """
        ctx = self._context
        with ctx.store.write() as tx:
            item = tx.get_outbox(item_id, lock=True)
            if item is None:
                raise EngineError(f"outbox item {item_id} not found")
            if item.status == OutboxStatus.DONE:
                raise EngineError(f"outbox item {item_id} was already delivered")
            now = ctx.now(tx)
            tx.reset_outbox(item_id, now)
            what = f"retry_outbox:{item_id}"
            append_access(tx, actor=actor, case_id=item.case_id, what=what, at=now)
        return outbox_item(
            replace(item, status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now)
        )

    def record_access(
        self, case_id: str | None, *, actor: str, what: str, client: str | None = None
    ) -> None:
        """Audit a read of a case (who looked at what; ``client`` acting for ``actor``), or a
        denied request (case_id None when the request named no case)."""
        access.record_access(self._context, case_id, actor=actor, what=what, client=client)

    # -- continuity: migrating running cases, importing a caseload --------------------

    def migration_plan(self, path: str | Path) -> MigrationPlan:
        """Read and check a migration plan against both versions it names
        (:mod:`engine.definitions.migration_plan`). Raises DefinitionError (every finding,
        ``file:LINE:COL``), UnknownWorkflow (a version not registered)."""
        from engine.definitions.migration_plan import check_plan, plan_target

        name, v1, v2 = plan_target(path)
        registry = self._context.registry
        return check_plan(path, registry.get(name, v1), registry.get(name, v2))

    def migrate(
        self,
        plan: MigrationPlan,
        *,
        actor: str,
        dry_run: bool = False,
        batch: int = 200,
        progress: Callable[[int, int], None] | None = None,
    ) -> MigrationReport:
        """Move the open cases on ``plan.from_version`` to ``plan.to_version``, ``batch``
        per transaction; ``dry_run`` reports what would move, writing nothing but the access
        row (:mod:`engine.runtime.migration`). Resumable: run it again."""
        from engine.runtime import migration

        if dry_run:
            return migration.dry_run(
                self._context, plan, actor=actor, batch=batch, progress=progress
            )
        return migration.migrate(self._context, plan, actor=actor, batch=batch, progress=progress)

    def import_caseload(
        self,
        path: str | Path,
        *,
        actor: str,
        batch: int = 500,
        validate_only: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> ImportReport:
        """Import running cases from a CSV or JSON-lines file: every row checked first,
        then written in batches, idempotent by business key
        (:mod:`engine.runtime.caseload_import`). Raises EngineError (unreadable file)."""
        from engine.runtime.caseload_import import import_caseload

        return import_caseload(
            self._context,
            path,
            actor=actor,
            batch=batch,
            validate_only=validate_only,
            progress=progress,
        )

    # -- timers, actions, audit --------------------------------------------------

    def fire_due_timers(self, *, limit: int = 100) -> int:
        """Fire due timers oldest first, one transaction each; returns how many fired."""
        return firing.fire_due_timers(self._context, limit=limit)

    def next_timer_due(self) -> datetime | None:
        store = self._context.store
        with store.read() as tx:
            return tx.next_timer_due()

    def deliver_outbox(self, *, limit: int = 100) -> int:
        """Run pending actions whose time has come; returns how many were attempted."""
        return delivery.deliver_outbox(self._context, limit=limit)

    def verify_audit(self, case_id: str | None = None, *, key: bytes | None = None) -> AuditReport:
        """Walk the chains and checkpoints in one snapshot (see :mod:`.audit_trail`);
        ``key`` checks signed checkpoints' seals. Raises CaseNotFound."""
        return verify_audit(self._context.store, case_id, key)

    def audit_checkpoint(self, *, key: bytes | None = None) -> Checkpoint:
        """Record every case's head and the access log's head, sealed (HMAC with ``key``)."""
        return take_checkpoint(self._context.store, self._context.clock.now(), key)

    def stats(self) -> EngineStats:
        store = self._context.store
        with store.read() as tx:
            values = tx.stats(self._context.now(tx))
        return EngineStats(**values)
