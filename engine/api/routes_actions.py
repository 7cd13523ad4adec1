"""Pull delivery of actions over HTTP: fetch-and-lock, extend, complete, fail.

For workers in any language (Camunda external tasks, Zeebe job workers). Every
route needs a client with the ``actions`` permission. A task carries its
``lease_token`` (the fencing token); extend, complete and fail present it, and
are refused with 409 ``lease-lost`` once the lease was taken over by another
fetch (after it ran out) or the action was settled.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from engine.api.auth import require
from engine.api.clients import Client
from engine.api.models import problem_responses

if TYPE_CHECKING:
    from engine.runtime.engine import Engine

router = APIRouter(prefix="/v1/actions", tags=["actions"])

_ERRORS = problem_responses(400, 401, 403, 404, 409, 413, 422)
_NAME = r"^[A-Za-z_][A-Za-z0-9_.-]*$"

ItemId = Annotated[int, Path(ge=1, le=2**62, description="the action's outbox id")]


class FetchAndLockRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    worker: str = Field(
        min_length=1, max_length=200, pattern=_NAME, description="names the worker in the lease"
    )
    actions: list[Annotated[str, Field(min_length=1, max_length=200, pattern=_NAME)]] = Field(
        min_length=1, max_length=50, description="action names (each delivered by pull)"
    )
    max_items: int = Field(default=10, ge=1, le=100)
    lease_seconds: float = Field(default=60, gt=0, le=3600)


class LeaseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lease_token: int = Field(ge=1, description="the token fetch-and-lock returned")


class ExtendRequest(LeaseRequest):
    lease_seconds: float = Field(gt=0, le=3600, description="the lease runs this long from now")


class FailRequest(LeaseRequest):
    error: str = Field(
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="a short error code (stored; never case data)",
    )
    retry_after_seconds: float | None = Field(
        default=None, ge=0, le=30 * 86400, description="default: the action's backoff"
    )
    permanent: bool = Field(default=False, description="dead-letter now, retry never")


class ActionTaskOut(BaseModel):
    outbox_id: int
    idempotency_key: str = Field(description="stable across attempts: make the effect once")
    action: str
    case_id: str
    event: str
    history_seq: int = Field(description="the history entry whose commit queued the action")
    workflow: str
    workflow_version: int
    attempt: int = Field(description="1 on the first attempt")
    arguments: dict[str, Any] = Field(description="what the workflow declares for the action")
    lease_token: int = Field(description="the fencing token: present it to extend/complete/fail")
    locked_until: str
    created_at: str


class FetchAndLockOut(BaseModel):
    items: list[ActionTaskOut]


class ExtendOut(BaseModel):
    outbox_id: int
    lease_token: int
    locked_until: str


class SettledOut(BaseModel):
    id: int
    status: str = Field(description='"done", "pending" (retried at next_attempt_at) or "dead"')
    next_attempt_at: str | None


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


ActionsClient = Annotated[Client, Depends(require("actions"))]


@router.post(
    "/fetch-and-lock",
    response_model=FetchAndLockOut,
    responses=_ERRORS,
    summary="Lease due actions of the names given (none due: an empty list)",
)
def fetch_and_lock(
    body: FetchAndLockRequest, request: Request, client: ActionsClient
) -> dict[str, Any]:
    locked = _engine(request).actions.fetch_and_lock(
        body.actions,
        worker=body.worker,
        lease=timedelta(seconds=body.lease_seconds),
        limit=body.max_items,
        actor=client.actor,
    )
    return {"items": [item.to_dict() for item in locked]}


@router.post(
    "/{item_id}/extend",
    response_model=ExtendOut,
    responses=_ERRORS,
    summary="Hold a leased action longer",
)
def extend_lease(
    item_id: ItemId, body: ExtendRequest, request: Request, client: ActionsClient
) -> dict[str, Any]:
    until = _engine(request).actions.extend(
        item_id, body.lease_token, timedelta(seconds=body.lease_seconds)
    )
    return {
        "outbox_id": item_id,
        "lease_token": body.lease_token,
        "locked_until": until.isoformat(),
    }


@router.post(
    "/{item_id}/complete",
    response_model=SettledOut,
    responses=_ERRORS,
    summary="Mark a leased action delivered",
)
def complete_action(
    item_id: ItemId, body: LeaseRequest, request: Request, client: ActionsClient
) -> dict[str, Any]:
    return _engine(request).actions.complete(item_id, body.lease_token).to_dict()


@router.post(
    "/{item_id}/fail",
    response_model=SettledOut,
    responses=_ERRORS,
    summary="Report a failed attempt: retried later, or dead-lettered",
)
def fail_action(
    item_id: ItemId, body: FailRequest, request: Request, client: ActionsClient
) -> dict[str, Any]:
    retry_after = None
    if body.retry_after_seconds is not None:
        retry_after = timedelta(seconds=body.retry_after_seconds)
    settled = _engine(request).actions.fail(
        item_id,
        body.lease_token,
        error=body.error,
        retry_after=retry_after,
        permanent=body.permanent,
    )
    return settled.to_dict()
