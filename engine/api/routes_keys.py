"""Business keys over HTTP: send an event to the open case a set of key values names.

``POST /v1/cases/by-key/events`` with ``{"workflow", "keys", "event", "payload"}``
resolves the one open case of the workflow holding every key value and sends
the event to it, in one request (correlation: an inbound message reaches its
case without a lookup first). Key values travel in the body, not the URL, so
they stay out of proxies' logs. Searching by key is ``GET /v1/cases?key.NAME=...``
(:func:`engine.api.key_filters.search_keys_of`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from engine.api.auth import require
from engine.api.clients import Client
from engine.api.models import NAME_PATTERN, CaseOut, problem_responses
from engine.api.routes_cases import (
    _ETAG,
    IdempotencyKey,
    IfMatch,
    _engine,
    _etag,
    _expected_version,
    _metrics,
    _reason,
    _written_body,
    send_as_client,
)
from engine.errors import EngineError

router = APIRouter(prefix="/v1", tags=["cases"])

MAX_KEYS = 16


class SendByKeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workflow: str = Field(pattern=NAME_PATTERN, description="workflow name")
    keys: dict[str, str | int] = Field(
        description="business key values that name one open case, e.g. {'encounter_id': 'E-1'}",
        min_length=1,
        max_length=MAX_KEYS,
    )
    event: str = Field(pattern=NAME_PATTERN, description="event name")
    payload: dict[str, Any] = Field(default_factory=dict, description="event payload")


@router.post(
    "/cases/by-key/events",
    response_model=CaseOut,
    response_model_exclude_unset=True,
    responses={
        200: {"headers": _ETAG},
        **problem_responses(400, 401, 403, 404, 409, 412, 413, 422),
    },
    summary="Send an event to the open case with these business key values",
)
def send_by_key(
    body: SendByKeyRequest,
    request: Request,
    response: Response,
    client: Annotated[Client, Depends(require("write"))],
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    engine = _engine(request)
    metrics = _metrics(request)
    expected = _expected_version(if_match)
    defn = engine.definition(body.workflow)
    label = body.event if body.event in defn.events else "unknown"
    try:
        case_id = engine.case_for_keys(body.workflow, body.keys)
        case = engine.get(case_id)  # the roles of the case's own workflow version
        roles = list(
            client.roles_for(engine.definition(case.workflow, case.workflow_version).roles)
        )
        view = send_as_client(
            engine, client, case_id, body.event, body.payload, roles, idempotency_key, expected
        )
    except EngineError as exc:
        metrics.rejected(body.workflow, label, _reason(exc))
        raise
    metrics.applied(body.workflow, label)
    request.state.case_id = view.id
    response.headers["ETag"] = _etag(view.version)
    return _written_body(engine, client, view, engine.allowed_events(view.id, roles))
