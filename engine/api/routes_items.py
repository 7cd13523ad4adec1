"""Work item endpoints: add an item to a case, send it an event, read the items.

Writes need the 'write' permission and are answered like case events (the
case view, its ``ETag``; ``Idempotency-Key`` and ``If-Match`` as for
``POST /v1/cases/{id}/events``); reads need 'read' and are audited.
Errors are problem+json naming the case, item, item state, event and what is
allowed now (engine/api/problems.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from engine.api.auth import require
from engine.api.clients import Client
from engine.api.models import AddItemRequest, CaseOut, ItemOut, ItemsOut, SendEventRequest
from engine.api.routes_cases import (
    _ERRORS,
    _ETAG,
    CaseId,
    IdempotencyKey,
    IfMatch,
    _engine,
    _etag,
    _expected_version,
    _roles_on_case,
    _written_body,
)

router = APIRouter(prefix="/v1", tags=["items"])

ItemId = Annotated[str, Path(min_length=1, max_length=64, description="item id in the case")]
_LOCATION = {"Location": {"description": "the new item", "schema": {"type": "string"}}}


@router.post(
    "/cases/{case_id}/items",
    status_code=201,
    response_model=CaseOut,
    response_model_exclude_unset=True,
    responses={201: {"headers": {**_ETAG, **_LOCATION}}, **_ERRORS},
    summary="Add a work item to a case",
)
def add_item(
    case_id: CaseId,
    body: AddItemRequest,
    request: Request,
    response: Response,
    client: Annotated[Client, Depends(require("write"))],
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    engine = _engine(request)
    expected = _expected_version(if_match)
    roles = _roles_on_case(engine, client, case_id)
    before = {i.id for i in engine.get(case_id).items}
    view = engine.add_item(
        case_id,
        body.type,
        body.payload,
        actor=client.actor,
        roles=roles,
        item_id=body.item_id,
        idempotency_key=idempotency_key,
        expected_version=expected,
        client=client.via,
    )
    added = body.item_id or next((i.id for i in reversed(view.items) if i.id not in before), "")
    response.headers["ETag"] = _etag(view.version)
    response.headers["Location"] = f"/v1/cases/{case_id}/items/{added}"
    return _written_body(engine, client, view, engine.allowed_events(case_id, roles))


@router.post(
    "/cases/{case_id}/items/{item_id}/events",
    response_model=CaseOut,
    response_model_exclude_unset=True,
    responses={200: {"headers": _ETAG}, **_ERRORS},
    summary="Send an event to a work item",
)
def send_item_event(
    case_id: CaseId,
    item_id: ItemId,
    body: SendEventRequest,
    request: Request,
    response: Response,
    client: Annotated[Client, Depends(require("write"))],
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    engine = _engine(request)
    expected = _expected_version(if_match)
    roles = _roles_on_case(engine, client, case_id)
    view = engine.send_item(
        case_id,
        item_id,
        body.event,
        body.payload,
        actor=client.actor,
        roles=roles,
        idempotency_key=idempotency_key,
        expected_version=expected,
        client=client.via,
    )
    response.headers["ETag"] = _etag(view.version)
    return _written_body(engine, client, view, engine.allowed_events(case_id, roles))


@router.get(
    "/cases/{case_id}/items",
    response_model=ItemsOut,
    responses=_ERRORS,
    summary="The work items of a case (audited)",
)
def list_items(
    case_id: CaseId,
    request: Request,
    client: Annotated[Client, Depends(require("read"))],
    type: Annotated[str | None, Query(max_length=128, description="item type")] = None,
    state: Annotated[str | None, Query(max_length=128, description="item state")] = None,
) -> dict[str, Any]:
    engine = _engine(request)
    items = engine.items(case_id, item_type=type, state=state)
    engine.record_access(case_id, actor=client.actor, what="items", client=client.via)
    return {"case_id": case_id, "items": [i.to_dict() for i in items]}


@router.get(
    "/cases/{case_id}/items/{item_id}",
    response_model=ItemOut,
    responses=_ERRORS,
    summary="One work item of a case (audited)",
)
def get_item(
    case_id: CaseId,
    item_id: ItemId,
    request: Request,
    client: Annotated[Client, Depends(require("read"))],
) -> dict[str, Any]:
    engine = _engine(request)
    item = engine.item(case_id, item_id)
    engine.record_access(case_id, actor=client.actor, what=f"item:{item_id}", client=client.via)
    return item.to_dict()
