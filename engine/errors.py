"""One hierarchy for every error the engine raises.

Each class's docstring is its default message. Messages carry identifiers
(case id, workflow, state, event, JSON path, field name) and what would have
been allowed, never case data: case records are protected health information.
Every class has a stable, unique ``code``: the ``error`` field of the CLI's
JSON output and the problem type of the HTTP API.

This is the bottom layer: it imports no other engine module and knows nothing
of HTTP. Classes defined elsewhere join the hierarchy by subclassing
(``ExpressionError`` in :mod:`engine.definitions.expressions`, ``YamlError``
in :mod:`engine.definitions.yaml_document`, ``ScriptError`` in
:mod:`engine.simulation.script`, ``ClientsFileInvalid`` in
:mod:`engine.api.clients`). Status codes, problem type URIs and titles live in
:mod:`engine.api.problems`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class Finding(Protocol):
    """What :class:`DefinitionError` needs of a diagnostic.

    :class:`engine.definitions.diagnostics.Diagnostic` is one; this module
    sits below the definitions package, so it names the shape, not the class.
    """

    @property
    def severity(self) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...


class EngineError(Exception):
    """The engine could not do what was asked."""

    code = "engine-error"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or (self.__doc__ or "").strip().splitlines()[0]
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (no case data)."""
        return {"error": self.code, "message": self.message}


class DefinitionError(EngineError):
    """The workflow definition is invalid.

    ``diagnostics`` holds every finding, each an
    :class:`engine.definitions.diagnostics.Diagnostic` (typed loosely here:
    this module cannot import that one).
    """

    code = "invalid-definition"

    def __init__(self, diagnostics: Sequence[Finding], message: str | None = None) -> None:
        self.diagnostics: tuple[Any, ...] = tuple(diagnostics)
        errors = [d for d in self.diagnostics if d.severity == "error"]
        if message is None:
            shown = "\n".join(str(d) for d in errors[:20])
            more = f"\n... and {len(errors) - 20} more" if len(errors) > 20 else ""
            message = f"{len(errors)} error(s) in workflow definition:\n{shown}{more}"
        super().__init__(message)

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["diagnostics"] = [x.to_dict() for x in self.diagnostics]
        return d


class DefinitionConflict(EngineError):
    """A workflow file changed without its version being raised."""

    code = "definition-conflict"


class UnknownWorkflow(EngineError):
    """No workflow with that name (and version) is registered."""

    code = "unknown-workflow"


class CaseNotFound(EngineError):
    """No case with that id exists."""

    code = "case-not-found"

    def __init__(self, case_id: str) -> None:
        self.case_id = case_id
        super().__init__(f"case {case_id} not found")


class ItemNotFound(EngineError):
    """No work item with that id exists in the case."""

    code = "item-not-found"

    def __init__(self, case_id: str, item_id: str) -> None:
        self.case_id = case_id
        self.item_id = item_id
        super().__init__(f"case {case_id}: item {item_id!r} not found")

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.update(case_id=self.case_id, item_id=self.item_id)
        return d


class ItemIdTaken(EngineError):
    """The case already has a work item with that id."""

    code = "item-id-taken"

    def __init__(self, case_id: str, item_id: str) -> None:
        self.case_id = case_id
        self.item_id = item_id
        super().__init__(f"case {case_id}: item id {item_id!r} is taken")

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.update(case_id=self.case_id, item_id=self.item_id)
        return d


class EventRejected(EngineError):
    """The event is not allowed for this case now.

    For an event addressed to a work item (or the creation of one, event
    ``@create``), ``item_id`` names the item (None for a creation refused before
    an id was chosen: ``item_type`` names the type), ``state`` is the item's
    state and ``case_state`` the case's.
    """

    code = "event-rejected"

    def __init__(
        self,
        *,
        case_id: str,
        state: str,
        event: str,
        reason: str,
        detail: str,
        allowed_events: Sequence[str] = (),
        item_id: str | None = None,
        item_type: str | None = None,
        case_state: str | None = None,
    ) -> None:
        self.case_id = case_id
        self.state = state
        self.event = event
        self.reason = reason
        self.detail = detail
        self.allowed_events = tuple(allowed_events)
        self.item_id = item_id
        self.item_type = item_type
        self.case_state = case_state
        allowed = ", ".join(self.allowed_events) or "none"
        if item_id is not None:
            subject = f"case {case_id} item {item_id!r} in state {state!r}"
        elif item_type is not None:
            subject = f"case {case_id} in state {state!r}: item type {item_type!r}"
        else:
            subject = f"case {case_id} in state {state!r}"
        super().__init__(
            f"{subject}: event {event!r} rejected ({reason}): {detail}; allowed now: {allowed}"
        )

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.update(
            case_id=self.case_id,
            state=self.state,
            event=self.event,
            reason=self.reason,
            detail=self.detail,
            allowed_events=list(self.allowed_events),
        )
        if self.item_id is not None:
            d["item_id"] = self.item_id
        if self.item_type is not None:
            d["item_type"] = self.item_type
        if self.case_state is not None:
            d["case_state"] = self.case_state
        return d


class OpenDenied(EngineError):
    """The caller's roles may not open a case in this workflow (its ``open_roles``)."""

    code = "open-denied"

    def __init__(self, *, workflow: str, allowed_roles: Sequence[str]) -> None:
        self.workflow = workflow
        self.allowed_roles = tuple(allowed_roles)
        super().__init__(
            f"opening a case in workflow {workflow!r} needs one of the roles: "
            f"{', '.join(self.allowed_roles) or 'none declared'}"
        )

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.update(workflow=self.workflow, allowed_roles=list(self.allowed_roles))
        return d


class AssignDenied(EngineError):
    """The caller's roles may not assign cases of this workflow (its ``ownership.assign_roles``)."""

    code = "assign-denied"

    def __init__(self, *, workflow: str, allowed_roles: Sequence[str]) -> None:
        self.workflow = workflow
        self.allowed_roles = tuple(allowed_roles)
        super().__init__(
            f"assigning cases of workflow {workflow!r} needs one of the roles: "
            f"{', '.join(self.allowed_roles) or 'none (the workflow declares no ownership)'}"
        )

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.update(workflow=self.workflow, allowed_roles=list(self.allowed_roles))
        return d


class OwnershipInputInvalid(EngineError):
    """A malformed person or team id, a missing reason, or a bulk reassignment without
    targets or over its size limit; the message says which."""

    code = "ownership-input-invalid"


class AssignmentRejected(EngineError):
    """An assignment names an unknown or inactive person, or a team that is not allowed.

    ``reason`` is one of ``unknown-person``, ``inactive-person``, ``team-not-allowed``,
    ``no-team``, ``no-ownership``, ``case-closed``; ``allowed`` lists what would be accepted
    (the allowed teams; empty for a person: the directory is not listed in an error).
    """

    code = "assignment-rejected"

    def __init__(
        self, *, case_id: str | None, reason: str, detail: str, allowed: Sequence[str] = ()
    ) -> None:
        self.case_id = case_id
        self.reason = reason
        self.detail = detail
        self.allowed = tuple(allowed)
        where = f"case {case_id}: " if case_id else ""
        tail = f"; allowed: {', '.join(self.allowed)}" if self.allowed else ""
        super().__init__(f"{where}assignment rejected ({reason}): {detail}{tail}")

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.update(
            case_id=self.case_id, reason=self.reason, detail=self.detail, allowed=list(self.allowed)
        )
        return d


class PayloadInvalid(EngineError):
    """The event payload or case record does not match its schema."""

    code = "payload-invalid"

    def __init__(
        self, *, what: str, json_path: str, problem: str, case_id: str | None = None
    ) -> None:
        self.what = what  # "payload of event X" / "case record"
        self.json_path = json_path
        self.problem = problem  # schema keyword based, never echoes the value
        self.case_id = case_id
        where = f"case {case_id}: " if case_id else ""
        super().__init__(f"{where}{what} invalid at {json_path}: {problem}")

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.update(what=self.what, json_path=self.json_path, problem=self.problem)
        if self.case_id:
            d["case_id"] = self.case_id
        return d


class ConcurrencyConflict(EngineError):
    """The case changed since it was read."""

    code = "concurrency-conflict"

    def __init__(
        self, *, case_id: str, expected_version: int | None, actual_version: int, state: str
    ) -> None:
        self.case_id = case_id
        self.expected_version = expected_version
        self.actual_version = actual_version
        self.state = state
        super().__init__(
            f"case {case_id} changed concurrently: expected version {expected_version}, "
            f"found version {actual_version} in state {state!r}"
        )

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.update(
            case_id=self.case_id,
            expected_version=self.expected_version,
            actual_version=self.actual_version,
            state=self.state,
        )
        return d


class IdempotencyKeyReused(EngineError):
    """The idempotency key was already used for a different request."""

    code = "idempotency-key-reused"

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"idempotency key {key!r} was already used for a different request")


class SchemaOutOfDate(EngineError):
    """The database schema is behind this version of Casework."""

    code = "schema-out-of-date"


class DuplicateKey(EngineError):
    """A unique key was stored by a concurrent transaction first.

    The store raises it for an idempotency key or a definition version that
    another transaction inserted in the meantime; the engine retries, and the
    retry replays the stored result (or reports the conflict).
    """

    code = "duplicate-key"


class ReopenDenied(EngineError):
    """The closed case may not be reopened now (engine/runtime/continuity.py).

    ``reason`` is one of ``not_closed`` (the case is open), ``wrong_state`` (no
    reopening is declared for the final state it closed in, or for this event),
    ``role_missing``, ``window_passed`` (the declared period has run out) and
    ``window_unknown`` (the instant the window counts from is not in the record).
    """

    code = "reopen-denied"

    def __init__(
        self,
        *,
        case_id: str,
        state: str,
        event: str | None,
        reason: str,
        detail: str,
        allowed: Sequence[str] = (),
    ) -> None:
        self.case_id = case_id
        self.state = state
        self.event = event
        self.reason = reason
        self.detail = detail
        self.allowed = tuple(allowed)  # states, events or roles, by reason
        what = f"reopening by {event!r}" if event else "reopening"
        super().__init__(f"case {case_id} in state {state!r}: {what} denied ({reason}): {detail}")

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.update(
            case_id=self.case_id,
            state=self.state,
            event=self.event,
            reason=self.reason,
            detail=self.detail,
            allowed=list(self.allowed),
        )
        return d


class TransferInvalid(EngineError):
    """The transfer cannot be made: none is declared to that workflow, or its
    declaration does not fit the target (an unknown entry state or clock)."""

    code = "transfer-invalid"

    def __init__(
        self,
        *,
        case_id: str,
        workflow: str,
        to_workflow: str,
        problem: str,
        declared: Sequence[str] = (),
    ) -> None:
        self.case_id = case_id
        self.workflow = workflow
        self.to_workflow = to_workflow
        self.problem = problem
        self.declared = tuple(declared)  # the workflows this one declares transfers to
        super().__init__(
            f"case {case_id}: transfer from workflow {workflow!r} to {to_workflow!r}: {problem}"
        )

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.update(
            case_id=self.case_id,
            workflow=self.workflow,
            to_workflow=self.to_workflow,
            problem=self.problem,
            declared=list(self.declared),
        )
        return d
