"""The engine facade: open cases, send events, read them back, fire timers, deliver actions.

Every change runs in one database transaction: lock the case (``FOR UPDATE``
on PostgreSQL; ``BEGIN IMMEDIATE`` on SQLite), check the expected version and
the idempotency key, apply the event through the workflow's state machine,
update the case with a version check, append the hash-chained history row,
arm/pause/resume/cancel timers and queue outbox rows. Either all of it
commits or none of it does.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from engine.clock import Clock, SystemClock
from engine.definitions.model import WorkflowDefinition
from engine.errors import (
    CaseNotFound,
    ConcurrencyConflict,
    EngineError,
    IdempotencyKeyReused,
    SchemaOutOfDate,
)
from engine.runtime import delivery, firing
from engine.runtime.audit import fingerprint
from engine.runtime.convert import (
    case_view,
    case_view_from_dict,
    history_entry,
    outbox_item,
    timer_view,
)
from engine.runtime.core import Action, Core
from engine.runtime.explain import CaseExplanation, explain_case
from engine.runtime.inspection import allowed_events as _allowed_events
from engine.runtime.inspection import verify_audit as _verify_audit
from engine.runtime.json_policy import (
    MAX_PAYLOAD_BYTES,
    MAX_RECORD_BYTES,
    check_json,
    valid_identifier,
)
from engine.runtime.registry import Registry
from engine.runtime.transact import HistoryFacts, commit_applied
from engine.runtime.transact import open_case as _open_case
from engine.runtime.views import (
    AuditReport,
    CaseView,
    EngineStats,
    EventOption,
    HistoryEntry,
    OutboxItem,
    Page,
    TimerView,
)
from engine.store import migrate
from engine.store.queries import Store, decode_cursor, encode_cursor

_RETRIES = 3


def _paths(workflows: str | Path | Sequence[str | Path] | None) -> list[str | Path]:
    if workflows is None:
        from engine.definitions import default_workflows_dir

        return [default_workflows_dir()]
    if isinstance(workflows, str | Path):
        return [workflows]
    return list(workflows)


def ensure_schema(store: Store, upgrade: bool | None) -> None:
    """Bring a new database to the newest schema; refuse one that is behind."""
    head = migrate.head_revision()
    current = migrate.current_revision(store.db)
    if current == head:
        return
    if upgrade or (upgrade is None and current is None and not migrate.has_any_table(store.db)):
        migrate.upgrade(store.db)
        return
    raise SchemaOutOfDate(
        f"database schema is at revision {current or 'none'}, this Casework needs {head}: "
        "run `casework db upgrade --database-url URL`"
    )


def _check_case_id(case_id: str) -> None:
    """An id no case can have (NUL, lone surrogates) is simply not found."""
    if not valid_identifier(case_id):
        raise CaseNotFound(case_id.encode("utf-8", "backslashreplace").decode("ascii", "replace"))


class Engine:
    """Durable cases driven by workflow definitions (see the module docstring)."""

    def __init__(self, core: Core) -> None:
        self._core = core

    @classmethod
    def open(
        cls,
        database_url: str = "sqlite:///casework.db",
        *,
        workflows: str | Path | Sequence[str | Path] | None = None,
        clock: Clock | None = None,
        actions: Mapping[str, Action] | None = None,
        upgrade: bool | None = None,
    ) -> Engine:
        """Connect, check or create the schema, load and register the workflows.

        Raises DefinitionError (invalid files), DefinitionConflict (a file
        changed without its version being raised), SchemaOutOfDate.
        """
        from engine.definitions import load_workflows

        loaded = load_workflows(_paths(workflows))
        return cls._from_definitions(
            database_url, loaded, clock=clock, actions=actions, upgrade=upgrade
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
    ) -> Engine:
        clock = clock or SystemClock()
        store = Store(database_url)
        try:
            ensure_schema(store, upgrade)
            registry = Registry()
            for attempt in range(_RETRIES):
                try:
                    registry.sync(store, loaded, clock.now())
                    break
                except sa.exc.IntegrityError:  # another process registered the same version
                    if attempt == _RETRIES - 1:
                        raise
        except BaseException:
            store.close()
            raise
        core = Core(
            store=store,
            registry=registry,
            clock=clock,
            use_db_clock=store.postgres and isinstance(clock, SystemClock),
            actions=dict(actions or {}),
        )
        return cls(core)

    # -- lifecycle ---------------------------------------------------------------

    def close(self) -> None:
        self._core.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def clock(self) -> Clock:
        return self._core.clock

    @property
    def outbox_max_attempts(self) -> int:
        return self._core.outbox_max_attempts

    @outbox_max_attempts.setter
    def outbox_max_attempts(self, value: int) -> None:
        self._core.outbox_max_attempts = value

    def register_action(self, name: str, fn: Action) -> None:
        self._core.actions[name] = fn

    # -- definitions -------------------------------------------------------------

    def definitions(self) -> list[WorkflowDefinition]:
        return self._core.registry.all()

    def definition(self, name: str, version: int | None = None) -> WorkflowDefinition:
        """Raises UnknownWorkflow."""
        return self._core.registry.get(name, version)

    # -- changes -----------------------------------------------------------------

    def open_case(
        self,
        workflow: str,
        data: Mapping[str, Any],
        *,
        actor: str,
        roles: Sequence[str],
        idempotency_key: str | None = None,
    ) -> CaseView:
        """Open a case on the newest version of ``workflow``.

        Raises UnknownWorkflow, PayloadInvalid (record vs case schema),
        IdempotencyKeyReused.
        """
        core = self._core
        definition = core.registry.get(workflow)
        compiled = core.registry.compiled(definition.name, definition.version)
        check_json(data, what="case record", max_bytes=MAX_RECORD_BYTES)
        record = {**compiled.defaults, **data}  # top-level schema defaults fill absent fields
        compiled.case_check.validate(record)
        facts = HistoryFacts(actor, tuple(roles), record, idempotency_key)
        fp = None
        if idempotency_key is not None:
            fp = fingerprint(
                {
                    "op": "open",
                    "workflow": workflow,
                    "data": record,
                    "actor": actor,
                    "roles": sorted(roles),
                }
            )
        for attempt in range(_RETRIES):
            try:
                with core.store.write() as conn:
                    if idempotency_key is not None:
                        replay = self._replay(conn, idempotency_key, fp)
                        if replay is not None:
                            return replay
                    now = core.now(conn)
                    view = _open_case(
                        core.store,
                        conn,
                        compiled,
                        case_id=str(uuid.uuid4()),
                        record=record,
                        facts=facts,
                        now=now,
                    )
                    self._remember(conn, idempotency_key, fp, view, now)
                return view
            except sa.exc.IntegrityError:
                if idempotency_key is None or attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

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
    ) -> CaseView:
        """Send ``event`` to a case.

        Raises CaseNotFound, EventRejected (wrong state / guard false / role
        missing), PayloadInvalid, ConcurrencyConflict, IdempotencyKeyReused.
        """
        core = self._core
        _check_case_id(case_id)
        body = dict(payload or {})
        check_json(
            body, what=f"payload of event {event}", case_id=case_id, max_bytes=MAX_PAYLOAD_BYTES
        )
        facts = HistoryFacts(actor, tuple(roles), body, idempotency_key)
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
                }
            )
        for attempt in range(_RETRIES):
            try:
                with core.store.write() as conn:
                    case = core.store.lock_case(conn, case_id, with_db_now=core.use_db_clock)
                    if case is None:
                        raise CaseNotFound(case_id)
                    if idempotency_key is not None:
                        replay = self._replay(conn, idempotency_key, fp)
                        if replay is not None:
                            return replay
                    if expected_version is not None and expected_version != case["version"]:
                        raise ConcurrencyConflict(
                            case_id=case_id,
                            expected_version=expected_version,
                            actual_version=int(case["version"]),
                            state=str(case["state"]),
                        )
                    now = case["db_now"] if core.use_db_clock else core.clock.now()
                    compiled = core.registry.compiled(
                        case["workflow_name"], int(case["workflow_version"])
                    )
                    applied = compiled.apply(
                        case_id=case_id,
                        state=case["state"],
                        previous_state=case["previous_state"],
                        event=event,
                        payload=body,
                        record=case["record"],
                        roles=roles,
                        now=now,
                    )
                    view = commit_applied(
                        core.store,
                        conn,
                        compiled,
                        case,
                        applied,
                        event=event,
                        facts=facts,
                        now=now,
                    )
                    assert view is not None
                    self._remember(conn, idempotency_key, fp, view, now)
                return view
            except sa.exc.IntegrityError:
                if idempotency_key is None or attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _replay(self, conn: sa.Connection, key: str, fp: str | None) -> CaseView | None:
        row = self._core.store.get_idempotency(conn, key)
        if row is None:
            return None
        if row["fingerprint"] != fp:
            raise IdempotencyKeyReused(key)
        return case_view_from_dict(row["response"])

    def _remember(
        self, conn: sa.Connection, key: str | None, fp: str | None, view: CaseView, now: datetime
    ) -> None:
        if key is None or fp is None:
            return
        self._core.store.insert_idempotency(
            conn,
            {
                "key": key,
                "fingerprint": fp,
                "case_id": view.id,
                "response": view.to_dict(),
                "created_at": now,
            },
        )

    # -- reads -------------------------------------------------------------------

    def get(self, case_id: str) -> CaseView:
        """Raises CaseNotFound."""
        _check_case_id(case_id)
        store = self._core.store
        with store.read() as conn:
            row = store.get_case(conn, case_id)
            if row is None:
                raise CaseNotFound(case_id)
            return case_view(row, store.pending_timers_of(conn, case_id))

    def history(self, case_id: str) -> list[HistoryEntry]:
        """Raises CaseNotFound."""
        _check_case_id(case_id)
        store = self._core.store
        with store.read() as conn:
            rows = store.history(conn, case_id)
            if not rows and store.get_case(conn, case_id) is None:
                raise CaseNotFound(case_id)
            return [history_entry(r) for r in rows]

    def allowed_events(self, case_id: str, roles: Sequence[str]) -> list[EventOption]:
        """Every event of the case's workflow: allowed now, or why not. Raises CaseNotFound."""
        _check_case_id(case_id)
        store = self._core.store
        with store.read() as conn:
            row = store.get_case(conn, case_id)
        if row is None:
            raise CaseNotFound(case_id)
        compiled = self._core.registry.compiled(row["workflow_name"], int(row["workflow_version"]))
        return _allowed_events(compiled, row, frozenset(roles), self._core.clock.now())

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
    ) -> Page[CaseView]:
        """Cases matching every filter given, oldest first; raises ValueError on a bad cursor."""
        store = self._core.store
        if not all(valid_identifier(v) for v in (workflow, state, phase) if v is not None):
            return Page(items=(), next_cursor=None)  # no case can match such a filter
        after = None
        if cursor is not None:
            values = decode_cursor(cursor)
            after = (datetime.fromisoformat(values[0]), str(values[1]))
        with store.read() as conn:
            now = self._core.now(conn)
            rows = store.find_cases(
                conn,
                workflow=workflow,
                state=state,
                phase=phase,
                overdue=overdue,
                opened_after=opened_after,
                opened_before=opened_before,
                closed=closed,
                now=now,
                limit=limit,
                after=after,
            )
            timers = store.pending_timers_for(conn, [r["id"] for r in rows])
        items = [case_view(r, timers.get(r["id"], [])) for r in rows]
        nxt = encode_cursor([rows[-1]["opened_at"], rows[-1]["id"]]) if len(rows) == limit else None
        return Page(items=tuple(items), next_cursor=nxt)

    def timers(
        self,
        *,
        case_id: str | None = None,
        status: str | None = "pending",
        due_before: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[TimerView]:
        store = self._core.store
        after_id = int(decode_cursor(cursor)[0]) if cursor else None
        with store.read() as conn:
            rows = store.list_timers(
                conn,
                case_id=case_id,
                status=status,
                due_before=due_before,
                limit=limit,
                after_id=after_id,
            )
        nxt = encode_cursor([rows[-1]["id"]]) if len(rows) == limit else None
        return Page(items=tuple(timer_view(r) for r in rows), next_cursor=nxt)

    def outbox(
        self, *, status: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> Page[OutboxItem]:
        store = self._core.store
        after_id = int(decode_cursor(cursor)[0]) if cursor else None
        with store.read() as conn:
            rows = store.list_outbox(conn, status=status, limit=limit, after_id=after_id)
        nxt = encode_cursor([rows[-1]["id"]]) if len(rows) == limit else None
        return Page(items=tuple(outbox_item(r) for r in rows), next_cursor=nxt)

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
        core = self._core
        with core.store.write() as conn:
            row = core.store.get_outbox(conn, item_id, lock=True)
            if row is None:
                raise EngineError(f"outbox item {item_id} not found")
            if row["status"] == "done":
                raise EngineError(f"outbox item {item_id} was already delivered")
            now = core.now(conn)
            values = {"status": "pending", "attempts": 0, "next_attempt_at": now}
            core.store.update_outbox(conn, item_id, values)
            core.store.insert_access(
                conn,
                {
                    "actor": actor,
                    "case_id": row["case_id"],
                    "what": f"retry_outbox:{item_id}",
                    "at": now,
                },
            )
        return outbox_item({**row, **values})

    def record_access(self, case_id: str | None, *, actor: str, what: str) -> None:
        """Audit a read of a case (who looked at what), or a denied request (case_id None
        when the request named no case)."""
        core = self._core
        with core.store.write() as conn:
            core.store.insert_access(
                conn, {"actor": actor, "case_id": case_id, "what": what, "at": core.now(conn)}
            )

    # -- timers, actions, audit --------------------------------------------------

    def fire_due_timers(self, *, limit: int = 100) -> int:
        """Fire due timers oldest first, one transaction each; returns how many fired."""
        return firing.fire_due_timers(self._core, limit=limit)

    def next_timer_due(self) -> datetime | None:
        store = self._core.store
        with store.read() as conn:
            return store.next_timer_due(conn)

    def deliver_outbox(self, *, limit: int = 100) -> int:
        """Run pending actions whose time has come; returns how many were attempted."""
        return delivery.deliver_outbox(self._core, limit=limit)

    def verify_audit(self, case_id: str | None = None) -> AuditReport:
        """Walk the hash chains; report the first broken link. Raises CaseNotFound."""
        return _verify_audit(self._core.store, case_id)

    def stats(self) -> EngineStats:
        store = self._core.store
        with store.read() as conn:
            values = store.stats(conn, self._core.now(conn))
        return EngineStats(**values)
