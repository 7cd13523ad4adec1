"""Ownership endpoints: the staff directory, assignment, bulk reassignment, caseloads,
worklists (docs/ownership.md).

Deny by default like every route: reading needs ``read``; assigning needs ``write``
and one of the workflow's ``ownership.assign_roles``; writing the directory needs
``staff``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from engine.api import cursors
from engine.api.auth import require
from engine.api.clients import Client
from engine.api.models import problem_responses
from engine.api.problems import ApiProblem
from engine.api.routes_cases import CaseId, IdempotencyKey, IfMatch, _etag, _expected_version

if TYPE_CHECKING:
    from engine.runtime.engine import Engine
    from engine.store.records import StaffRecord

router = APIRouter(prefix="/v1", tags=["ownership"])

_ERRORS = problem_responses(400, 401, 403, 404, 409, 412, 422)
PersonId = Annotated[str, Path(min_length=1, max_length=200, description="person id")]
_Ident = Annotated[str, Field(min_length=1, max_length=200)]


class StaffIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    active: bool = True
    teams: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=50
    )
    roles: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=50, description="workflow roles the person holds"
    )


class StaffOut(BaseModel):
    id: str
    active: bool
    teams: list[str]
    roles: list[str]
    source: str = Field(description="'api' or 'file' (casework staff import)")
    updated_at: str
    updated_by: str


class StaffPage(BaseModel):
    items: list[StaffOut]
    next_cursor: str | None


class AssignmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assignee: _Ident | None = Field(description="a person of the staff directory; null unassigns")
    team: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class AssignmentOut(BaseModel):
    case_id: str
    version: int
    assignee: str | None
    team: str | None
    previous_assignee: str | None
    previous_team: str | None
    changed: bool
    operation: str


class BulkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    case_ids: list[_Ident] | None = Field(None, max_length=10_000)
    from_assignee: _Ident | None = None
    from_team: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    workflow: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    to: list[_Ident] = Field(min_length=1, max_length=100)
    team: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    dry_run: bool = False


class BulkResultOut(BaseModel):
    case_id: str
    outcome: str = Field(description="planned | reassigned | unchanged | rejected")
    assignee: str | None = None
    previous_assignee: str | None = None
    error: str | None = None
    detail: str | None = None


class BulkOut(BaseModel):
    dry_run: bool
    counts: dict[str, int]
    results: list[BulkResultOut]


class WorkflowLoadOut(BaseModel):
    workflow: str
    cases: int
    weighted: float
    target: float | None


class CaseloadOut(BaseModel):
    holder: str
    cases: int
    weighted: float
    load: float | None = Field(description="sum over workflows of weighted cases / target")
    over_target: bool
    by_workflow: list[WorkflowLoadOut]


class CaseloadList(BaseModel):
    by: str
    items: list[CaseloadOut]


class WorklistEntryOut(BaseModel):
    due_at: str
    overdue: bool
    source: str
    name: str
    event: str
    status: str
    case_id: str
    workflow: str
    state: str
    assignee: str | None
    team: str | None
    may_send: list[str]


class WorklistOut(BaseModel):
    items: list[WorklistEntryOut]
    next_cursor: str | None


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _staff_body(s: StaffRecord) -> dict[str, Any]:
    return {
        "id": s.id,
        "active": s.active,
        "teams": list(s.teams),
        "roles": list(s.roles),
        "source": str(s.source),
        "updated_at": s.updated_at.isoformat(),
        "updated_by": s.updated_by,
    }


def _all_roles(engine: Engine, client: Client) -> list[str]:
    declared: list[str] = []
    for d in engine.definitions():
        declared.extend(r for r in d.roles if r not in declared)
    return list(client.roles_for(declared))


def _span(text: str) -> timedelta:
    """``7d``, ``12h``, ``30m``, ``2w`` or an ISO 8601 duration (``P7D``, ``PT12H``)."""
    from engine.definitions.durations import parse_duration

    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    value = text.strip().lower()
    if value[:-1].isdigit() and value[-1:] in units and len(value) <= 10:
        return timedelta(**{units[value[-1]]: int(value[:-1])})
    try:
        d = parse_duration(text.strip().upper())
    except ValueError:
        raise ApiProblem(400, "invalid-duration", "due_within: try 7d, 12h or P7D") from None
    return timedelta(
        days=d.years * 365 + d.months * 30 + d.weeks * 7 + d.days,
        hours=d.hours,
        minutes=d.minutes,
        seconds=d.seconds,
    )


@router.put(
    "/staff/{person}",
    response_model=StaffOut,
    responses=_ERRORS,
    summary="Add or change a person of the staff directory (permission staff)",
)
def put_staff(
    person: PersonId,
    body: StaffIn,
    request: Request,
    client: Annotated[Client, Depends(require("staff"))],
) -> dict[str, Any]:
    engine = _engine(request)
    rec = engine.put_staff(
        person,
        active=body.active,
        teams=body.teams,
        roles=body.roles,
        actor=client.actor,
        client=client.via,
    )
    return _staff_body(rec)


@router.get("/staff/{person}", response_model=StaffOut, responses=_ERRORS, summary="One person")
def get_staff(
    person: PersonId, request: Request, client: Annotated[Client, Depends(require("read"))]
) -> dict[str, Any]:
    rec = _engine(request).staff(person)
    if rec is None:
        raise ApiProblem(404, "person-not-found", f"person {person!r} is not in the directory")
    return _staff_body(rec)


@router.get("/staff", response_model=StaffPage, responses=_ERRORS, summary="The staff directory")
def list_staff(
    request: Request,
    client: Annotated[Client, Depends(require("read"))],
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> dict[str, Any]:
    secret: bytes = request.app.state.cursor_secret
    after = None
    if cursor is not None:
        after = cursors.verify(secret, cursor)
        if after is None:
            raise ApiProblem(400, "invalid-cursor", "the cursor was not issued by this server")
    rows = _engine(request).list_staff(limit=limit, after=after)
    nxt = rows[-1].id if len(rows) == limit else None
    return {"items": [_staff_body(s) for s in rows], "next_cursor": cursors.sign(secret, nxt)}


@router.put(
    "/cases/{case_id}/assignment",
    response_model=AssignmentOut,
    responses={200: {"headers": {"ETag": {"schema": {"type": "string"}}}}, **_ERRORS},
    summary="Assign, reassign or unassign a case (an audited history row)",
)
def put_assignment(
    case_id: CaseId,
    body: AssignmentIn,
    request: Request,
    response: Response,
    client: Annotated[Client, Depends(require("write"))],
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    engine = _engine(request)
    expected = _expected_version(if_match)
    current = engine.get(case_id)
    defn = engine.definition(current.workflow, current.workflow_version)
    done = engine.assign(
        case_id,
        body.assignee,
        team=body.team,
        reason=body.reason,
        actor=client.actor,
        roles=list(client.roles_for(defn.roles)),
        client=client.via,
        idempotency_key=idempotency_key,
        expected_version=expected,
    )
    request.state.case_id = case_id
    response.headers["ETag"] = _etag(done.version)
    return done.to_dict()


@router.post(
    "/assignments/bulk",
    response_model=BulkOut,
    responses=_ERRORS,
    summary="Reassign a set of cases (ids, or a holder's open cases); dry_run plans only",
    description="One transaction per case; each case's outcome is reported. With an "
    "Idempotency-Key, each case's change is stored under the key and a retry replays it; "
    "a case already held by one of `to` is left unchanged.",
)
def bulk_reassign(
    body: BulkIn,
    request: Request,
    client: Annotated[Client, Depends(require("write"))],
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    engine = _engine(request)
    report = engine.bulk_reassign(
        to=body.to,
        reason=body.reason,
        actor=client.actor,
        roles=_all_roles(engine, client),
        case_ids=body.case_ids,
        from_assignee=body.from_assignee,
        from_team=body.from_team,
        workflow=body.workflow,
        team=body.team,
        dry_run=body.dry_run,
        key=idempotency_key,
        client=client.via,
    )
    return report.to_dict()


@router.get(
    "/caseloads",
    response_model=CaseloadList,
    responses=_ERRORS,
    summary="Open cases per assignee or team against the model's caseload ratio",
)
def get_caseloads(
    request: Request,
    client: Annotated[Client, Depends(require("read"))],
    by: Annotated[str, Query(pattern="^(assignee|team)$")] = "assignee",
    over_target: bool | None = None,
) -> dict[str, Any]:
    loads = _engine(request).caseloads(by=by)
    if over_target is not None:
        loads = [c for c in loads if c.over_target == over_target]
    return {"by": by, "items": [c.to_dict() for c in loads]}


@router.get(
    "/worklist",
    response_model=WorklistOut,
    responses=_ERRORS,
    summary="Everything due for an assignee, a team or a role, overdue first",
)
def get_worklist(
    request: Request,
    client: Annotated[Client, Depends(require("read"))],
    assignee: Annotated[str | None, Query(max_length=200)] = None,
    team: Annotated[str | None, Query(max_length=64)] = None,
    role: Annotated[str | None, Query(max_length=64)] = None,
    due_within: Annotated[str | None, Query(max_length=32, description="7d, 12h, P7D")] = None,
    overdue: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> dict[str, Any]:
    secret: bytes = request.app.state.cursor_secret
    inner = None
    if cursor is not None:
        inner = cursors.verify(secret, cursor)
        if inner is None:
            raise ApiProblem(400, "invalid-cursor", "the cursor was not issued by this server")
    span = _span(due_within) if due_within is not None else None
    try:
        page = _engine(request).worklist(
            assignee=assignee,
            team=team,
            role=role,
            due_within=span,
            overdue=overdue,
            limit=limit,
            cursor=inner,
        )
    except ValueError as exc:
        raise ApiProblem(400, "invalid-worklist", str(exc)) from None
    return {
        "items": [e.to_dict() for e in page.items],
        "next_cursor": cursors.sign(secret, page.next_cursor),
    }
