"""Ownership in the console: caseloads against the model's ratio, worklists of what is
due, and assigning a case from its page (docs/console.md, docs/ownership.md).

Deny by default like every console page; reading needs a session, assigning a POST of
this session's form (CSRF), the ``write`` permission and one of the workflow's
``ownership.assign_roles`` (the engine checks, :class:`~engine.errors.AssignDenied`).
A form carries the case's version: a stale one is refused (409) and changes nothing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from engine.api import cursors
from engine.api.console.case_pages import CaseId, _case_context
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
from engine.errors import CaseNotFound, ConcurrencyConflict, EngineError

router = APIRouter(prefix=PREFIX, dependencies=[Depends(operator)])  # deny by default

Text = Annotated[str, Query(max_length=128)]
PAGE_SIZES = (25, 50, 100)
#: the "due within" choices of the worklist page (value: its span)
DUE_WITHIN: dict[str, timedelta | None] = {
    "": None,
    "1d": timedelta(days=1),
    "7d": timedelta(days=7),
    "14d": timedelta(days=14),
    "30d": timedelta(days=30),
}


@router.post("/cases/{case_id}/assignment", response_class=HTMLResponse)
def assign(
    request: Request,
    post: Annotated[Posted, Depends(posted)],
    case_id: CaseId,
) -> Response:
    op = post.op
    require_write(op)
    engine = engine_of(request)
    try:
        expected = int(post.one("version"))
    except ValueError:
        raise Refused(400, "the form has no case version") from None
    person = post.one("assignee").strip() or None
    team = post.one("team").strip() or None
    reason = post.one("reason").strip()
    try:
        current = engine.get(case_id)
    except CaseNotFound:
        raise Refused(404, "no case has that id") from None
    defn = engine.definition(current.workflow, current.workflow_version)
    status, problem = 422, ""
    try:
        if expected != current.version:  # the engine checks again, in the change's transaction
            raise ConcurrencyConflict(
                case_id=case_id,
                expected_version=expected,
                actual_version=current.version,
                state=current.state,
            )
        done = engine.assign(
            case_id,
            person,
            team=team,
            reason=reason,
            actor=op.actor,
            roles=list(op.client.roles_for(defn.roles)),
            client=op.client.via,
            expected_version=expected,
        )
    except ConcurrencyConflict as exc:
        status = 409
        problem = (
            f"Refused: this form was for version {expected} of the case, and the case has "
            f"changed since (it is at version {exc.actual_version}, in {exc.state}). "
            "Nothing was assigned. Review the case below and assign again if still needed."
        )
    except EngineError as exc:
        status = 403 if exc.code == "assign-denied" else 422
        problem = f"Refused: {exc.message}"
    else:
        return redirect(f"/cases/{case_id}?assigned={'1' if done.changed else '0'}")
    context = _case_context(request, op, case_id)
    context["problem"] = problem
    return render(request, "case.html", status=status, op=op, **context)


# -- caseloads ----------------------------------------------------------------------------


@router.get("/caseloads", response_class=HTMLResponse)
def caseloads(
    request: Request,
    op: Annotated[Operator, Depends(operator)],
    over: Text = "",
) -> Response:
    engine = engine_of(request)
    if over not in ("", "yes"):
        raise Refused(400, "unknown filter value")
    people = engine.caseloads(by="assignee")
    teams = engine.caseloads(by="team")
    if over:
        people = [c for c in people if c.over_target]
        teams = [c for c in teams if c.over_target]
    targets = {
        d.name: (d.ownership.caseload_target, d.ownership.target_parameter)
        for d in sorted(engine.definitions(), key=lambda d: (d.name, d.version))
        if d.ownership is not None
    }
    engine.record_access(None, actor=op.actor, what="console:caseloads")
    return render(
        request,
        "caseloads.html",
        op=op,
        people=people,
        teams=teams,
        over=over,
        targets=sorted(targets.items()),
    )


# -- worklists ----------------------------------------------------------------------------


@router.get("/worklist", response_class=HTMLResponse)
def worklist(
    request: Request,
    op: Annotated[Operator, Depends(operator)],
    assignee: Text = "",
    team: Text = "",
    role: Text = "",
    due_within: Text = "",
    overdue: Text = "",
    limit: int = 50,
    cursor: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    engine = engine_of(request)
    if due_within not in DUE_WITHIN or overdue not in ("", "yes") or limit not in PAGE_SIZES:
        raise Refused(400, "unknown filter value")
    chosen = [v for v in (assignee, team, role) if v]
    filters = {
        "assignee": assignee,
        "team": team,
        "role": role,
        "due_within": due_within,
        "overdue": overdue,
        "limit": str(limit),
    }
    roles = sorted({r for d in engine.definitions() for r in d.roles})
    context: dict[str, Any] = {
        "filters": filters,
        "roles": roles,
        "due_choices": list(DUE_WITHIN),
        "page_sizes": PAGE_SIZES,
        "page": None,
        "next_cursor": None,
        "first_page": not cursor,
        "now": engine.clock.now(),
    }
    if not chosen:
        return render(request, "worklist.html", op=op, **context)
    if len(chosen) > 1:
        raise Refused(400, "a worklist is for one assignee, one team or one role")
    secret: bytes = request.app.state.cursor_secret
    inner = None
    if cursor:
        inner = cursors.verify(secret, cursor)
        if inner is None:
            raise Refused(400, "the page link was not issued by this server")
    try:
        page = engine.worklist(
            assignee=assignee or None,
            team=team or None,
            role=role or None,
            due_within=DUE_WITHIN[due_within],
            overdue=overdue == "yes",
            limit=limit,
            cursor=inner,
        )
    except ValueError:
        raise Refused(400, "the worklist filter or page link is not valid") from None
    engine.record_access(None, actor=op.actor, what="console:worklist")
    context["page"] = page
    context["next_cursor"] = cursors.sign(secret, page.next_cursor)
    return render(request, "worklist.html", op=op, **context)
