"""Case endpoints: open, send, read, history, search."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response

from engine.api import cursors
from engine.api.auth import require
from engine.api.clients import Client
from engine.api.key_filters import search_keys_of
from engine.api.models import (
    CaseOut,
    CasePage,
    CaseSummary,
    HistoryOut,
    OpenCaseRequest,
    SendEventRequest,
    problem_responses,
)
from engine.api.problems import ApiProblem
from engine.errors import EngineError, EventRejected, UnknownWorkflow

if TYPE_CHECKING:
    from engine.api.metrics import ApiMetrics
    from engine.runtime.engine import Engine
    from engine.runtime.views import CaseView

router = APIRouter(prefix="/v1", tags=["cases"])

CaseId = Annotated[str, Path(min_length=1, max_length=200, description="case id")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="retrying with the same key and request returns the first result",
    ),
]
IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", max_length=100, description='the case ETag, e.g. "3"'),
]

_ERRORS = problem_responses(400, 401, 403, 404, 409, 412, 413, 422)
_ETAG = {"ETag": {"description": 'the case version, e.g. "3"', "schema": {"type": "string"}}}
_LOCATION = {"Location": {"description": "the new case", "schema": {"type": "string"}}}


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _metrics(request: Request) -> ApiMetrics:
    metrics: ApiMetrics = request.app.state.metrics
    return metrics


def _etag(version: int) -> str:
    return f'"{version}"'


def _expected_version(if_match: str | None) -> int | None:
    """The case version an ``If-Match`` header names; None for absent or ``*``."""
    if if_match is None:
        return None
    tag = if_match.strip()
    if tag == "*":
        return None
    if tag.startswith("W/"):
        tag = tag[2:]
    tag = tag.strip('"')
    if not tag.isdigit() or len(tag) > 18:
        raise ApiProblem(
            412, "precondition-failed", "If-Match does not name a version of this case"
        )
    return int(tag)


def _roles(engine: Engine, client: Client, workflow: str, version: int | None = None) -> list[str]:
    defn = engine.definition(workflow, version)
    return list(client.roles_for(defn.roles))


def _roles_on_case(engine: Engine, client: Client, case_id: str) -> list[str]:
    """The client's roles in the workflow version the case runs on. Raises CaseNotFound."""
    current = engine.get(case_id)
    return _roles(engine, client, current.workflow, current.workflow_version)


def _case_body(view: CaseView, options: list[Any] | None = None) -> dict[str, Any]:
    body = view.to_dict()
    body["allowed_events"] = [o.to_dict() for o in options or []]
    return body


def _written_body(
    engine: Engine, client: Client, view: CaseView, options: list[Any]
) -> dict[str, Any]:
    """A write's response: the record only for a client that may read it, and audited."""
    body = _case_body(view, options)
    if client.may("read"):
        engine.record_access(view.id, actor=client.actor, what="case", client=client.via)
    else:
        body.pop("record", None)
        for item in body.get("items", ()):
            item.pop("data", None)
    return body


def _summary(view: CaseView) -> dict[str, Any]:
    body = view.to_dict()
    body.pop("record", None)
    body.pop("items", None)
    return body


@router.post(
    "/cases",
    status_code=201,
    response_model=CaseOut,
    response_model_exclude_unset=True,
    responses={201: {"headers": {**_ETAG, **_LOCATION}}, **_ERRORS},
    summary="Open a case",
)
def open_case(
    body: OpenCaseRequest,
    request: Request,
    response: Response,
    client: Annotated[Client, Depends(require("write"))],
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    engine = _engine(request)
    metrics = _metrics(request)
    try:
        roles = _roles(engine, client, body.workflow)
    except UnknownWorkflow:
        metrics.rejected("unknown", "@open", "unknown-workflow")
        raise
    try:
        view = engine.open_case(
            body.workflow,
            body.record,
            actor=client.actor,
            roles=roles,
            idempotency_key=idempotency_key,
            client=client.via,
        )
    except EngineError as exc:
        metrics.rejected(body.workflow, "@open", _reason(exc))
        raise
    metrics.applied(body.workflow, "@open")
    request.state.case_id = view.id
    response.headers["ETag"] = _etag(view.version)
    response.headers["Location"] = f"/v1/cases/{view.id}"
    return _written_body(engine, client, view, engine.allowed_events(view.id, roles))


@router.post(
    "/cases/{case_id}/events",
    response_model=CaseOut,
    response_model_exclude_unset=True,
    responses={200: {"headers": _ETAG}, **_ERRORS},
    summary="Send an event to a case",
)
def send_event(
    case_id: CaseId,
    body: SendEventRequest,
    request: Request,
    response: Response,
    client: Annotated[Client, Depends(require("write"))],
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    engine = _engine(request)
    metrics = _metrics(request)
    expected = _expected_version(if_match)
    current = engine.get(case_id)
    defn = engine.definition(current.workflow, current.workflow_version)
    roles = list(client.roles_for(defn.roles))
    label = body.event if body.event in defn.events else "unknown"
    try:
        view = send_as_client(
            engine, client, case_id, body.event, body.payload, roles, idempotency_key, expected
        )
    except EngineError as exc:
        metrics.rejected(current.workflow, label, _reason(exc))
        raise
    metrics.applied(current.workflow, label)
    response.headers["ETag"] = _etag(view.version)
    return _written_body(engine, client, view, engine.allowed_events(case_id, roles))


def send_as_client(
    engine: Engine,
    client: Client,
    case_id: str,
    event: str,
    payload: dict[str, Any] | None,
    roles: list[str],
    idempotency_key: str | None,
    expected_version: int | None,
) -> CaseView:
    """``Engine.send`` on behalf of an API client (and the end user it acts for)."""
    return engine.send(
        case_id,
        event,
        payload,
        actor=client.actor,
        roles=roles,
        idempotency_key=idempotency_key,
        expected_version=expected_version,
        client=client.via,
    )


def _reason(exc: EngineError) -> str:
    if isinstance(exc, EventRejected):
        return exc.reason
    return exc.code


@router.get(
    "/cases/{case_id}",
    response_model=CaseOut,
    responses={200: {"headers": _ETAG}, **_ERRORS},
    summary="Read a case (audited)",
)
def get_case(
    case_id: CaseId,
    request: Request,
    response: Response,
    client: Annotated[Client, Depends(require("read"))],
) -> dict[str, Any]:
    engine = _engine(request)
    view = engine.get(case_id)
    roles = _roles(engine, client, view.workflow, view.workflow_version)
    engine.record_access(case_id, actor=client.actor, what="case", client=client.via)
    response.headers["ETag"] = _etag(view.version)
    return _case_body(view, engine.allowed_events(case_id, roles))


@router.get(
    "/cases/{case_id}/history",
    response_model=HistoryOut,
    responses=_ERRORS,
    summary="The history of a case (audited)",
)
def get_history(
    case_id: CaseId,
    request: Request,
    client: Annotated[Client, Depends(require("read"))],
) -> dict[str, Any]:
    engine = _engine(request)
    entries = engine.history(case_id)
    engine.record_access(case_id, actor=client.actor, what="history", client=client.via)
    return {"case_id": case_id, "entries": [e.to_dict() for e in entries]}


def _utc(value: datetime | None, name: str) -> datetime | None:
    """The instant in UTC (one without an offset is read as UTC, as documented); 400 past
    the range of UTC instants (``9999-12-31T23:59:59-23:59``)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ApiProblem(
            400, "invalid-instant", f"{name} is outside the range of UTC instants"
        ) from None


@router.get(
    "/cases",
    response_model=CasePage,
    responses=_ERRORS,
    summary="Search cases (summaries without records)",
    description="Filters combine with AND. Business keys: `key.NAME=VALUE` for each key "
    "the workflow declares (e.g. `key.patient_id=P-1`), any number of them.",
)
def search_cases(
    request: Request,
    client: Annotated[Client, Depends(require("read"))],
    workflow: Annotated[str | None, Query(max_length=128)] = None,
    state: Annotated[str | None, Query(max_length=128)] = None,
    phase: Annotated[str | None, Query(max_length=64)] = None,
    overdue: bool | None = None,
    opened_after: datetime | None = None,
    opened_before: datetime | None = None,
    closed: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    item_type: Annotated[
        str | None, Query(max_length=128, description="cases holding a work item of this type")
    ] = None,
    item_state: Annotated[
        str | None, Query(max_length=128, description="... a work item in this state")
    ] = None,
    item_overdue: Annotated[
        bool | None, Query(description="... an overdue work item (true) or none (false)")
    ] = None,
) -> dict[str, Any]:
    engine = _engine(request)
    secret: bytes = request.app.state.cursor_secret
    after = _utc(opened_after, "opened_after")
    before = _utc(opened_before, "opened_before")
    inner = None
    if cursor is not None:
        inner = cursors.verify(secret, cursor)
        if inner is None:
            raise ApiProblem(400, "invalid-cursor", "the cursor was not issued by this server")
    keys = search_keys_of(request.query_params)  # key.NAME=VALUE (business keys)
    try:
        page = engine.find(
            keys=keys,
            workflow=workflow,
            state=state,
            phase=phase,
            overdue=overdue,
            opened_after=after,
            opened_before=before,
            closed=closed,
            limit=limit,
            cursor=inner,
            item_type=item_type,
            item_state=item_state,
            item_overdue=item_overdue,
        )
    except (ValueError, TypeError, IndexError, KeyError):
        raise ApiProblem(400, "invalid-cursor", "the cursor is not valid") from None
    return {
        "items": [CaseSummary.model_validate(_summary(v)) for v in page.items],
        "next_cursor": cursors.sign(secret, page.next_cursor),
    }
