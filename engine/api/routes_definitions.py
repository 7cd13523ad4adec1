"""Definition endpoints: list, show, diagram."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import PlainTextResponse

from engine.api.auth import require
from engine.api.clients import Client
from engine.api.models import DefinitionList, DefinitionOut, problem_responses

if TYPE_CHECKING:
    from engine.definitions.model import WorkflowDefinition
    from engine.runtime.engine import Engine

router = APIRouter(prefix="/v1", tags=["definitions"])

WorkflowName = Annotated[str, Path(min_length=1, max_length=128, description="workflow name")]
Version = Annotated[int | None, Query(ge=1, le=1_000_000, description="default: the latest")]

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
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
        **_ERRORS,
    },
    summary="The workflow as a Mermaid or Graphviz diagram",
)
def definition_diagram(
    name: WorkflowName,
    request: Request,
    client: Annotated[Client, Depends(require("read"))],
    version: Version = None,
    format: Literal["mermaid", "dot"] = "mermaid",
) -> PlainTextResponse:
    defn = _engine(request).definition(name, version)
    return PlainTextResponse(render(defn, format))


def render(defn: WorkflowDefinition, fmt: str) -> str:
    """The analyst helper's renderer when present, else a plain fallback."""
    try:
        diagram = importlib.import_module("engine.definitions.diagram")
    except ModuleNotFoundError:
        diagram = None
    if diagram is not None:
        fn = getattr(diagram, "render_mermaid" if fmt == "mermaid" else "render_dot")
        return str(fn(defn))
    if fmt == "mermaid":
        lines = ["stateDiagram-v2", f"    [*] --> {defn.initial}"]
        for t in defn.transitions:
            lines.append(f"    {t.source} --> {t.target or t.source}: {t.event}")
        lines.extend(f"    {s} --> [*]" for s in defn.final_states)
        return "\n".join(lines) + "\n"
    lines = [f'digraph "{defn.name}" {{']
    lines.extend(
        f'  "{t.source}" -> "{t.target or t.source}" [label="{t.event}"];' for t in defn.transitions
    )
    lines.append("}")
    return "\n".join(lines) + "\n"
