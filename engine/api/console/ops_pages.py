"""Queues (closures to approve, holds to review, overdue by workflow), failed actions with
retry, and the workflow definitions with their diagrams and deadlines."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from engine.api import cursors
from engine.api.console.diagram import case_mermaid
from engine.api.console.web import (
    PREFIX,
    Operator,
    Posted,
    Refused,
    engine_of,
    operator,
    posted,
    redirect,
    render,
    require_write,
)
from engine.definitions.describe import timer_when
from engine.definitions.model import Phase, WorkflowDefinition
from engine.errors import EngineError, UnknownWorkflow
from engine.store.records import CaseQuery, CaseSort, OutboxStatus

router = APIRouter(prefix=PREFIX, dependencies=[Depends(operator)])  # deny by default

QUEUE_ROWS = 10
FAILED_SCAN = 500
MAX_RETRY = 200


def _newest(definitions: list[WorkflowDefinition]) -> list[WorkflowDefinition]:
    newest: dict[str, WorkflowDefinition] = {}
    for d in definitions:
        if d.name not in newest or d.version > newest[d.name].version:
            newest[d.name] = d
    return [newest[n] for n in sorted(newest)]


@router.get("/queues", response_class=HTMLResponse)
def queues(request: Request, op: Annotated[Operator, Depends(operator)]) -> Response:
    engine = engine_of(request)
    closures: list[dict[str, Any]] = []
    holds: list[dict[str, Any]] = []
    overdue: list[dict[str, Any]] = []
    for defn in _newest(engine.definitions()):
        name = defn.name
        q = CaseQuery(workflow=name, phase=Phase.CLOSURE.value, closed=False)
        page = engine.search(q, sort=CaseSort.DUE, limit=QUEUE_ROWS)
        if page.total:
            closures.append({"workflow": name, "page": page, "filters": {"phase": "closure"}})
        for state in (s.name for s in defn.states.values() if s.hold):
            q = CaseQuery(workflow=name, state=state, closed=False)
            page = engine.search(q, sort=CaseSort.DUE, limit=QUEUE_ROWS)
            if page.total:
                holds.append(
                    {"workflow": name, "state": state, "page": page, "filters": {"state": state}}
                )
        q = CaseQuery(workflow=name, overdue=True, closed=False)
        page = engine.search(q, sort=CaseSort.LATE, limit=1)
        overdue.append({"workflow": name, "page": page})
    engine.record_access(None, actor=op.actor, what="console:queues")
    return render(
        request,
        "queues.html",
        op=op,
        closures=closures,
        holds=holds,
        overdue=overdue,
        now=engine.clock.now(),
    )


@router.get("/outbox", response_class=HTMLResponse)
def outbox(
    request: Request,
    op: Annotated[Operator, Depends(operator)],
    cursor: Annotated[str, Query(max_length=500)] = "",
    retried: int = 0,
) -> Response:
    engine = engine_of(request)
    secret: bytes = request.app.state.cursor_secret
    inner = None
    if cursor:
        inner = cursors.verify(secret, cursor)
        if inner is None:
            raise Refused(400, "the page link was not issued by this server")
    pending = engine.outbox(status=OutboxStatus.PENDING.value, limit=FAILED_SCAN)
    failing = [i for i in pending.items if i.last_error]
    try:
        dead = engine.outbox(status=OutboxStatus.DEAD.value, limit=50, cursor=inner)
    except (ValueError, IndexError):
        raise Refused(400, "the page link is not valid") from None
    stats = engine.stats()
    engine.record_access(None, actor=op.actor, what="console:outbox")
    return render(
        request,
        "outbox.html",
        op=op,
        failing=failing,
        scanned_all=pending.next_cursor is None,
        dead=dead.items,
        dead_total=stats.outbox_dead,
        next_cursor=cursors.sign(secret, dead.next_cursor),
        first_page=not cursor,
        retried=retried,
        now=engine.clock.now(),
    )


@router.post("/outbox/retry")
def retry(request: Request, post: Annotated[Posted, Depends(posted)]) -> Response:
    require_write(post.op)
    engine = engine_of(request)
    raw = post.form.get("item", [])
    if not raw:
        raise Refused(400, "choose at least one action to retry")
    if len(raw) > MAX_RETRY:
        raise Refused(400, f"retry at most {MAX_RETRY} actions at once")
    try:
        ids = sorted({int(v) for v in raw})
    except ValueError:
        raise Refused(400, "an action id is not a number") from None
    done = 0
    for item_id in ids:
        try:
            engine.retry_outbox(item_id, actor=post.op.actor)
        except EngineError:
            continue  # delivered meanwhile, or gone: the page shows what is left
        done += 1
    return redirect(f"/outbox?retried={done}")


@router.get("/definitions", response_class=HTMLResponse)
def definitions(request: Request, op: Annotated[Operator, Depends(operator)]) -> Response:
    engine = engine_of(request)
    listed = sorted(engine.definitions(), key=lambda d: (d.name, -d.version))
    return render(request, "definitions.html", op=op, definitions=listed)


@router.get("/definitions/{name}/{version}", response_class=HTMLResponse)
def definition(
    request: Request,
    op: Annotated[Operator, Depends(operator)],
    name: Annotated[str, Path(max_length=200)],
    version: int,
) -> Response:
    engine = engine_of(request)
    try:
        defn = engine.definition(name, version)
    except UnknownWorkflow:
        raise Refused(404, "no workflow has that name and version") from None
    timers = [
        {"state": s.name, "phase": s.phase.value, "timer": t, "when": timer_when(t)}
        for s in defn.states.values()
        for t in s.timers
    ]
    return render(
        request,
        "definition.html",
        op=op,
        defn=defn,
        mermaid=case_mermaid(defn, None, ()),
        timers=timers,
    )
