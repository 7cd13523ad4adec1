"""``GET /v1/items``: work items across cases (:meth:`engine.Engine.find_items`).

Needs the 'read' permission (deny by default: no token, or a token without
it, is refused before anything is read). Each item carries its data, so every
case a page shows is audited as read (``what="items"``, one access row per
case). Cursors are signed as those of ``GET /v1/cases``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from engine.api import cursors
from engine.api.auth import require
from engine.api.clients import Client
from engine.api.models import ItemOut, problem_responses
from engine.api.problems import ApiProblem
from engine.store.records import ItemQuery

if TYPE_CHECKING:
    from engine.runtime.engine import Engine

router = APIRouter(prefix="/v1", tags=["items"])

Name = Annotated[str | None, Query(max_length=128, pattern=r"^[A-Za-z0-9_.-]+$")]


class FoundItemOut(ItemOut):
    """A work item found across cases: its case, workflow and whether it is overdue."""

    case_id: str
    workflow: str
    overdue: bool = Field(description="a timer or clock of the item is past due")


class ItemPage(BaseModel):
    items: list[FoundItemOut]
    next_cursor: str | None
    total: int | None = Field(None, description="every matching item (with total=true)")


@router.get(
    "/items",
    response_model=ItemPage,
    responses=problem_responses(400, 401, 403, 422),
    summary="Work items across cases, oldest opened first (audited)",
    description="Filters combine with AND: `workflow`, `type` (item type), `state` (item "
    "state), `open` (true: not in a final state), `overdue` (true: a timer or clock of the "
    "item is past due). Every case of the page is audited as read.",
)
async def find_items(
    request: Request,
    client: Annotated[Client, Depends(require("read"))],
    workflow: Name = None,
    type: Name = None,
    state: Name = None,
    open: bool | None = None,
    overdue: bool | None = None,
    total: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> dict[str, Any]:
    engine: Engine = request.app.state.engine
    secret: bytes = request.app.state.cursor_secret
    inner = None
    if cursor is not None:
        inner = cursors.verify(secret, cursor)
        if inner is None:
            raise ApiProblem(400, "invalid-cursor", "the cursor was not issued by this server")
    query = ItemQuery(workflow=workflow, item_type=type, state=state, open=open, overdue=overdue)
    try:
        page = await run_in_threadpool(
            engine.find_items, query, limit=limit, cursor=inner, with_total=total
        )
    except ValueError:
        raise ApiProblem(400, "invalid-cursor", "the cursor is not valid") from None
    if page.items:
        await run_in_threadpool(
            engine.record_accesses,
            [m.case_id for m in page.items],
            actor=client.actor,
            what="items",
            client=client.via,
        )
    return {
        "items": [m.to_dict() for m in page.items],
        "next_cursor": cursors.sign(secret, page.next_cursor),
        "total": page.total,
    }
