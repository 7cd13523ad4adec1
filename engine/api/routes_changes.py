"""The change feed: committed history entries in commit order, by long-poll or server-sent events.

``GET /v1/changes?after=CURSOR`` returns the entries after the cursor (at most
``limit``); with ``wait=SECONDS`` and nothing new, it holds the request until an
entry commits or the wait ends (then an empty page with the same cursor).
``GET /v1/changes/stream`` sends the same entries as ``text/event-stream``, each
event's ``id`` its cursor, so a reconnecting client (``Last-Event-ID``) resumes
with no gap and no duplicate; the server ends a stream after a while and the
client reconnects. Both need the ``read`` permission and audit each case whose
entries they return, as a case read does (``what`` = ``changes``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from engine.api.auth import require
from engine.api.clients import Client
from engine.api.models import HistoryEntryOut, problem_responses
from engine.api.problems import ApiProblem

if TYPE_CHECKING:
    from engine.runtime.engine import Engine
    from engine.runtime.host_services import ChangePage

router = APIRouter(prefix="/v1", tags=["changes"])

POLL_SECONDS = 0.25
KEEPALIVE_SECONDS = 15.0
DEFAULT_MAX_WAIT = 30.0
DEFAULT_STREAM_SECONDS = 300.0

Cursor = Annotated[
    str | None,
    Query(
        max_length=20,
        pattern=r"^([0-9]{1,19}|latest)$",
        description="the cursor of the last entry seen (absent: from the first entry; "
        "'latest': from now on)",
    ),
]
Workflow = Annotated[str | None, Query(max_length=128, description="only this workflow's cases")]


class ChangeOut(HistoryEntryOut):
    cursor: str = Field(description="this entry's place in the feed: pass it back as after")
    workflow: str


class ChangePageOut(BaseModel):
    items: list[ChangeOut]
    next_cursor: str = Field(description="resume after the last entry (the same when empty)")


def configure_change_feed(
    app: FastAPI,
    *,
    max_wait_seconds: float = DEFAULT_MAX_WAIT,
    stream_seconds: float = DEFAULT_STREAM_SECONDS,
) -> None:
    """Bound long-polls and streams (``casework serve`` sets these from its configuration)."""
    app.state.changes_max_wait = max_wait_seconds
    app.state.changes_stream_seconds = stream_seconds


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _setting(request: Request, name: str, default: float) -> float:
    return float(getattr(request.app.state, name, default))


def _start(engine: Engine, after: str | None) -> str | None:
    return engine.latest_change_cursor() if after == "latest" else after


async def _page(
    request: Request, client: Client, after: str | None, workflow: str | None, limit: int
) -> ChangePage:
    """One page, its cases audited as read by ``client``."""
    engine = _engine(request)
    try:
        page = await run_in_threadpool(engine.changes, after=after, workflow=workflow, limit=limit)
    except ValueError:
        raise ApiProblem(400, "invalid-cursor", "the cursor is not valid") from None
    if page.items:
        await run_in_threadpool(
            engine.record_accesses,
            [c.entry.case_id for c in page.items],
            actor=client.actor,
            what="changes",
            client=client.via,
        )
    return page


@router.get(
    "/changes",
    response_model=ChangePageOut,
    responses=problem_responses(400, 401, 403, 422),
    summary="Committed history entries after a cursor, in commit order (long-poll; audited)",
)
async def list_changes(
    request: Request,
    client: Annotated[Client, Depends(require("read"))],
    after: Cursor = None,
    workflow: Workflow = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    wait: Annotated[
        float,
        Query(ge=0, le=60, description="seconds to hold the request while nothing is new"),
    ] = 0,
) -> dict[str, Any]:
    engine = _engine(request)
    after = await run_in_threadpool(_start, engine, after)
    deadline = time.monotonic() + min(wait, _setting(request, "changes_max_wait", DEFAULT_MAX_WAIT))
    while True:
        page = await _page(request, client, after, workflow, limit)
        if page.items or time.monotonic() >= deadline or await request.is_disconnected():
            break
        await asyncio.sleep(POLL_SECONDS)
    return {"items": [c.to_dict() for c in page.items], "next_cursor": page.next_cursor}


@router.get(
    "/changes/stream",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "server-sent events: `event: change`, `id:` the entry's cursor, "
            "`data:` the entry as JSON (the shape of one ChangeOut)",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **problem_responses(400, 401, 403, 422),
    },
    summary="The change feed as server-sent events, resumable with Last-Event-ID (audited)",
)
async def stream_changes(
    request: Request,
    client: Annotated[Client, Depends(require("read"))],
    after: Cursor = None,
    workflow: Workflow = None,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            max_length=20,
            pattern=r"^[0-9]{1,19}$",
            description="the id of the last event received (overrides after)",
        ),
    ] = None,
) -> StreamingResponse:
    engine = _engine(request)
    start = last_event_id if last_event_id is not None else after
    cursor = await run_in_threadpool(_start, engine, start)
    first = await _page(request, client, cursor, workflow, 100)  # bad cursors fail as 400
    ends = time.monotonic() + _setting(request, "changes_stream_seconds", DEFAULT_STREAM_SECONDS)

    async def events() -> AsyncIterator[str]:
        page = first
        quiet_since = time.monotonic()
        yield "retry: 1000\n\n"  # reconnect after 1 s, sending Last-Event-ID
        while True:
            for change in page.items:
                yield f"id: {change.cursor}\nevent: change\ndata: {_json(change.to_dict())}\n\n"
            now = time.monotonic()
            if page.items:
                quiet_since = now
            elif now - quiet_since >= KEEPALIVE_SECONDS:
                quiet_since = now
                yield ": keep-alive\n\n"
            if now >= ends or await request.is_disconnected():
                return
            if not page.items:
                await asyncio.sleep(POLL_SECONDS)
            page = await _page(request, client, page.next_cursor, workflow, 100)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
