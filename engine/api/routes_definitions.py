"""Definition endpoints: list, show, diagram; and a case on its workflow's diagram."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import PlainTextResponse

from engine.api.auth import require
from engine.api.clients import Client
from engine.api.models import DefinitionList, DefinitionOut, problem_responses
from engine.api.problems import ApiProblem
from engine.definitions.diagram import render_dot, render_mermaid
from engine.runtime.case_diagram import case_position

if TYPE_CHECKING:
    from engine.definitions.model import WorkflowDefinition
    from engine.runtime.engine import Engine

router = APIRouter(prefix="/v1", tags=["definitions"])

WorkflowName = Annotated[str, Path(min_length=1, max_length=128, description="workflow name")]
Version = Annotated[int | None, Query(ge=1, le=1_000_000, description="default: the latest")]
Highlight = Annotated[
    str | None,
    Query(min_length=1, max_length=128, description="a state to draw as the current one"),
]
CaseId = Annotated[str, Path(min_length=1, max_length=200, description="case id")]
DiagramFormat = Literal["mermaid", "dot"]
_DIAGRAM_200: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/plain": {"schema": {"type": "string"}}}}
}

_ERRORS = problem_responses(400, 401, 403, 404, 422)


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def summary(defn: WorkflowDefinition) -> dict[str, Any]:
    return {
        "name": defn.name,
        "version": defn.version,
        "title": defn.title,
        "model": str(defn.model),
        "initial": defn.initial,
        "states": list(defn.states),
        "events": list(defn.events),
        "roles": list(defn.roles),
        "content_hash": defn.content_hash,
    }


def detail(defn: WorkflowDefinition) -> dict[str, Any]:
    body = summary(defn)
    body.update(
        description=defn.description,
        timezone=defn.timezone,
        case_schema=defn.case_schema,
        parameters=defn.parameters,
        states_detail=[
            {
                "name": s.name,
                "phase": str(s.phase),
                "description": s.description,
                "final": s.final,
                "hold": s.hold,
                "timers": [
                    {"name": t.name, "event": t.event, "kind": str(t.kind)} for t in s.timers
                ],
            }
            for s in defn.states.values()
        ],
        transitions=[
            {
                "source": t.source,
                "event": t.event,
                "target": t.target,
                "guard": t.guard,
                "roles": list(t.roles),
                "description": t.description,
            }
            for t in defn.transitions
        ],
    )
    return body


@router.get(
    "/definitions", response_model=DefinitionList, responses=_ERRORS, summary="List workflows"
)
def list_definitions(
    request: Request, client: Annotated[Client, Depends(require("read"))]
) -> dict[str, Any]:
    defs = sorted(_engine(request).definitions(), key=lambda d: (d.name, d.version))
    return {"items": [summary(d) for d in defs]}


@router.get(
    "/definitions/{name}",
    response_model=DefinitionOut,
    responses=_ERRORS,
    summary="Show one workflow",
)
def show_definition(
    name: WorkflowName,
    request: Request,
    client: Annotated[Client, Depends(require("read"))],
    version: Version = None,
) -> dict[str, Any]:
    return detail(_engine(request).definition(name, version))


@router.get(
    "/definitions/{name}/diagram",
    response_class=PlainTextResponse,
    responses={**_DIAGRAM_200, **_ERRORS},
    summary="The workflow as a Mermaid or Graphviz diagram",
)
def definition_diagram(
    name: WorkflowName,
    request: Request,
    client: Annotated[Client, Depends(require("read"))],
    version: Version = None,
    format: DiagramFormat = "mermaid",
    highlight: Highlight = None,
) -> PlainTextResponse:
    defn = _engine(request).definition(name, version)
    draw = render_mermaid if format == "mermaid" else render_dot
    try:
        return PlainTextResponse(draw(defn, highlight=highlight))
    except ValueError as exc:
        raise ApiProblem(422, "unknown-state", str(exc)) from None


@router.get(
    "/cases/{case_id}/diagram",
    response_class=PlainTextResponse,
    responses={**_DIAGRAM_200, **_ERRORS},
    summary="A case on its workflow's diagram: current state and path taken (audited)",
    tags=["cases"],
)
def case_diagram(
    case_id: CaseId,
    request: Request,
    client: Annotated[Client, Depends(require("read"))],
    format: DiagramFormat = "mermaid",
    highlight: Highlight = None,
) -> PlainTextResponse:
    engine = _engine(request)
    position = case_position(engine, case_id)
    engine.record_access(position.case_id, actor=client.actor, what="case diagram")
    try:
        return PlainTextResponse(position.render(format, highlight=highlight))
    except ValueError as exc:
        raise ApiProblem(422, "unknown-state", str(exc)) from None
