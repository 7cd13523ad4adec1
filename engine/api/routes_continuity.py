"""Case continuity endpoints: transfer a case to another workflow, reopen it, its links."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from engine.api.auth import require
from engine.api.clients import Client
from engine.api.models import (
    CaseLinksOut,
    CaseOut,
    ReopenRequest,
    TransferOut,
    TransferRequest,
)
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

router = APIRouter(prefix="/v1", tags=["cases"])


@router.post(
    "/cases/{case_id}/transfer",
    response_model=TransferOut,
    response_model_exclude_unset=True,
    responses={200: {"headers": _ETAG}, **_ERRORS},
    summary="Transfer a case to another workflow (closes it here, opens the linked case there)",
)
def transfer_case(
    case_id: CaseId,
    body: TransferRequest,
    request: Request,
    response: Response,
    client: Annotated[Client, Depends(require("write"))],
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    engine = _engine(request)
    expected = _expected_version(if_match)
    roles = _roles_on_case(engine, client, case_id)
    result = engine.transfer(
        case_id,
        body.to_workflow,
        body.payload,
        actor=client.actor,
        roles=roles,
        event=body.event,
        idempotency_key=idempotency_key,
        expected_version=expected,
        client=client.via,
    )
    response.headers["ETag"] = _etag(result.source.version)
    target_roles = _roles_on_case(engine, client, result.target.id)
    return {
        "source": _written_body(
            engine, client, result.source, engine.allowed_events(case_id, roles)
        ),
        "target": _written_body(
            engine, client, result.target, engine.allowed_events(result.target.id, target_roles)
        ),
    }


@router.post(
    "/cases/{case_id}/reopen",
    response_model=CaseOut,
    response_model_exclude_unset=True,
    responses={200: {"headers": _ETAG}, **_ERRORS},
    summary="Reopen a closed case (the same case continues)",
)
def reopen_case(
    case_id: CaseId,
    body: ReopenRequest,
    request: Request,
    response: Response,
    client: Annotated[Client, Depends(require("write"))],
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    engine = _engine(request)
    expected = _expected_version(if_match)
    roles = _roles_on_case(engine, client, case_id)
    view = engine.reopen(
        case_id,
        body.payload,
        actor=client.actor,
        roles=roles,
        event=body.event,
        idempotency_key=idempotency_key,
        expected_version=expected,
        client=client.via,
    )
    response.headers["ETag"] = _etag(view.version)
    return _written_body(engine, client, view, engine.allowed_events(case_id, roles))


@router.get(
    "/cases/{case_id}/links",
    response_model=CaseLinksOut,
    responses=_ERRORS,
    summary="The cases a case is linked to by transfers (audited)",
)
def get_links(
    case_id: CaseId,
    request: Request,
    client: Annotated[Client, Depends(require("read"))],
) -> dict[str, Any]:
    engine = _engine(request)
    links = engine.case_links(case_id)
    engine.record_access(case_id, actor=client.actor, what="links", client=client.via)
    return {"case_id": case_id, "links": [x.to_dict() for x in links]}
