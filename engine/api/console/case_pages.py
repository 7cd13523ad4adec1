"""Case search and the case page: diagram, why it is here, deadlines, history, send an event."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from engine.api import cursors
from engine.api.console.assignment import assignment_context
from engine.api.console.diagram import case_mermaid, path_taken
from engine.api.console.forms import FormInvalid, event_schema, fields_for, payload_from
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
from engine.definitions.model import PHASE_ORDER
from engine.errors import (
    CaseNotFound,
    ConcurrencyConflict,
    EngineError,
    EventRejected,
    PayloadInvalid,
)
from engine.store.records import CaseQuery, CaseSort

if TYPE_CHECKING:
    from engine.runtime.engine import Engine
    from engine.runtime.views import CaseView

router = APIRouter(prefix=PREFIX, dependencies=[Depends(operator)])  # deny by default

PAGE_SIZES = (25, 50, 100)
CaseId = Annotated[str, Path(min_length=1, max_length=64)]
Text = Annotated[str, Query(max_length=128)]


def _day(value: str, name: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
    except ValueError:
        raise Refused(400, f"{name} must be a date (YYYY-MM-DD)") from None


_TRI = {"": None, "yes": True, "no": False}
_CLOSED = {"": None, "open": False, "closed": True}


@router.get("", include_in_schema=False)
@router.get("/", include_in_schema=False)
def home() -> Response:
    return redirect("/cases")


@router.get("/cases", response_class=HTMLResponse)
def search(
    request: Request,
    op: Annotated[Operator, Depends(operator)],
    workflow: Text = "",
    state: Text = "",
    phase: Text = "",
    overdue: Text = "",
    closed: Text = "open",
    opened_after: Text = "",
    opened_before: Text = "",
    sort: Text = "late",
    limit: int = 50,
    cursor: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    engine = engine_of(request)
    if overdue not in _TRI or closed not in _CLOSED or limit not in PAGE_SIZES:
        raise Refused(400, "unknown filter value")
    try:
        order = CaseSort(sort)
    except ValueError:
        raise Refused(400, "unknown sort order") from None
    query = CaseQuery(
        workflow=workflow or None,
        state=state or None,
        phase=phase or None,
        overdue=_TRI[overdue],
        opened_after=_day(opened_after, "opened after"),
        opened_before=_day(opened_before, "opened before"),
        closed=_CLOSED[closed],
    )
    secret: bytes = request.app.state.cursor_secret
    inner = None
    if cursor:
        inner = cursors.verify(secret, cursor)
        if inner is None:
            raise Refused(400, "the page link was not issued by this server")
    try:
        page = engine.search(query, sort=order, limit=limit, cursor=inner)
    except ValueError:
        raise Refused(400, "the page link is not valid") from None
    engine.record_access(None, actor=op.actor, what="console:search")
    names = sorted({d.name for d in engine.definitions()})
    states = sorted({s for d in engine.definitions() for s in d.states})
    filters = {
        "workflow": workflow,
        "state": state,
        "phase": phase,
        "overdue": overdue,
        "closed": closed,
        "opened_after": opened_after,
        "opened_before": opened_before,
        "sort": order.value,
        "limit": str(limit),
    }
    return render(
        request,
        "search.html",
        op=op,
        page=page,
        rows=list(zip(page.items, page.sort_at, strict=True)),
        next_cursor=cursors.sign(secret, page.next_cursor),
        first_page=not cursor,
        filters=filters,
        workflows=names,
        states=states,
        phases=[p.value for p in PHASE_ORDER],
        page_sizes=PAGE_SIZES,
        now=engine.clock.now(),
    )


def _case_context(request: Request, op: Operator, case_id: str) -> dict[str, Any]:
    """Everything the case page shows (audited as a read of the case)."""
    engine = engine_of(request)
    try:
        view = engine.get(case_id)
    except CaseNotFound:
        raise Refused(404, "no case has that id") from None
    defn = engine.definition(view.workflow, view.workflow_version)
    roles = list(op.client.roles_for(defn.roles))
    explanation = engine.explain(case_id)
    history = engine.history(case_id)
    mine = engine.allowed_events(case_id, roles)
    audit = engine.verify_audit(case_id)
    engine.record_access(case_id, actor=op.actor, what="console:case")
    path = path_taken([(h.from_state, h.to_state) for h in history])
    forms = [
        (o, fields_for(event_schema(defn, view.state, o.event)))
        for o in mine
        if o.allowed and op.may("write")
    ]
    items = _item_forms(engine, defn, view, roles, may_write=op.may("write"))
    return {
        **items,
        "case": view,
        "defn": defn,
        "explanation": explanation,
        "history": list(reversed(history)),
        "mine": mine,
        "audit": audit,
        "path": path,
        "mermaid": case_mermaid(defn, view.state, path),
        "forms": forms,
        "roles": roles,
        "now": explanation.as_of,
        "record": sorted(view.record.items()),
        "notice": None,
        "problem": None,
        "assigned": None,
        **assignment_context(op, view, defn, history),
    }


def _item_forms(
    engine: Engine, defn: Any, view: Any, roles: list[str], *, may_write: bool
) -> dict[str, Any]:
    """The "Work items" section: each item with the events the operator may send it now,
    and the item types the operator may add here, each form's fields from its schema."""
    item_forms = []
    add_forms = []
    if may_write and view.closed_at is None:
        for item in view.items:
            if item.closed:
                continue
            it = defn.item_types[item.type]
            for o in engine.allowed_item_events(view.id, item.id, roles):
                if not o.allowed:
                    continue
                schema = next(
                    (
                        t.payload_schema
                        for t in it.transitions
                        if t.source == item.state and t.event == o.event and t.payload_schema
                    ),
                    None,
                )
                item_forms.append((item, o.event, fields_for(schema)))
        for it in defn.item_types.values():
            where = it.create.case_states
            if set(it.create.roles) & set(roles) and (not where or view.state in where):
                add_forms.append((it, fields_for(it.create.payload_schema or it.data_schema)))
    return {"items": list(view.items), "item_forms": item_forms, "add_forms": add_forms}


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(
    request: Request,
    op: Annotated[Operator, Depends(operator)],
    case_id: CaseId,
    sent: Text = "",
    assigned: Text = "",
) -> Response:
    context = _case_context(request, op, case_id)
    if assigned in ("0", "1"):
        context["assigned"] = assigned == "1"
    if sent and sent in context["defn"].events:
        context["notice"] = f"Sent {sent}: the case is now in {context['case'].state}."
    return render(request, "case.html", op=op, **context)


@router.post("/cases/{case_id}/events", response_class=HTMLResponse)
def send_event(
    request: Request,
    post: Annotated[Posted, Depends(posted)],
    case_id: CaseId,
) -> Response:
    op = post.op
    require_write(op)
    engine = engine_of(request)
    event = post.one("event")
    try:
        expected = int(post.one("version"))
    except ValueError:
        raise Refused(400, "the form has no case version") from None
    try:
        current = engine.get(case_id)
    except CaseNotFound:
        raise Refused(404, "no case has that id") from None
    defn = engine.definition(current.workflow, current.workflow_version)
    roles = list(op.client.roles_for(defn.roles))
    status, problem = 422, ""
    try:
        if expected != current.version:  # the engine checks again, under the case's lock
            raise ConcurrencyConflict(
                case_id=case_id,
                expected_version=expected,
                actual_version=current.version,
                state=current.state,
            )
        payload = payload_from(post.form, fields_for(event_schema(defn, current.state, event)))
        view = engine.send(
            case_id, event, payload, actor=op.actor, roles=roles, expected_version=expected
        )
    except ConcurrencyConflict as exc:
        status = 409
        problem = (
            f"Refused: this form was for version {expected} of the case, and the case has "
            f"changed since (it is at version {exc.actual_version}, in {exc.state}). "
            "Nothing was sent. Review the case below and send again if still needed."
        )
    except (EventRejected, PayloadInvalid, FormInvalid) as exc:
        problem = f"Refused: {getattr(exc, 'message', str(exc))}"
    except EngineError as exc:
        problem = f"Refused: {exc.message}"
    else:
        return redirect(f"/cases/{view.id}?sent={event}")
    context = _case_context(request, op, case_id)
    context["problem"] = problem
    return render(request, "case.html", status=status, op=op, **context)


def _item_write(
    request: Request,
    post: Posted,
    case_id: str,
    write: Callable[[Engine, Any, list[str], int], CaseView],
    done: str,
) -> Response:
    """Run an item form's write at the form's case version; a refusal re-renders the page."""
    op = post.op
    require_write(op)
    engine = engine_of(request)
    try:
        expected = int(post.one("version"))
    except ValueError:
        raise Refused(400, "the form has no case version") from None
    try:
        current = engine.get(case_id)
    except CaseNotFound:
        raise Refused(404, "no case has that id") from None
    defn = engine.definition(current.workflow, current.workflow_version)
    roles = list(op.client.roles_for(defn.roles))
    status, problem = 422, ""
    try:
        if expected != current.version:  # the engine checks again, under the case's lock
            raise ConcurrencyConflict(
                case_id=case_id,
                expected_version=expected,
                actual_version=current.version,
                state=current.state,
            )
        view = write(engine, defn, roles, expected)
    except ConcurrencyConflict as exc:
        status = 409
        problem = (
            f"Refused: this form was for version {expected} of the case, and the case has "
            f"changed since (it is at version {exc.actual_version}, in {exc.state}). "
            "Nothing was sent. Review the case below and send again if still needed."
        )
    except (EventRejected, PayloadInvalid, FormInvalid) as exc:
        problem = f"Refused: {getattr(exc, 'message', str(exc))}"
    except EngineError as exc:
        problem = f"Refused: {exc.message}"
    else:
        return redirect(f"/cases/{view.id}?sent={done}")
    context = _case_context(request, op, case_id)
    context["problem"] = problem
    return render(request, "case.html", status=status, op=op, **context)


@router.post("/cases/{case_id}/items", response_class=HTMLResponse)
def add_item(
    request: Request,
    post: Annotated[Posted, Depends(posted)],
    case_id: CaseId,
) -> Response:
    item_type = post.one("type")

    def write(engine: Engine, defn: Any, roles: list[str], expected: int) -> CaseView:
        it = defn.item_types.get(item_type)
        if it is None:
            raise FormInvalid(f"no item type {item_type!r} in this workflow")
        payload = payload_from(post.form, fields_for(it.create.payload_schema or it.data_schema))
        return engine.add_item(
            case_id, item_type, payload, actor=post.op.actor, roles=roles, expected_version=expected
        )

    return _item_write(request, post, case_id, write, "")


@router.post("/cases/{case_id}/items/{item_id}/events", response_class=HTMLResponse)
def send_item_event(
    request: Request,
    post: Annotated[Posted, Depends(posted)],
    case_id: CaseId,
    item_id: Annotated[str, Path(min_length=1, max_length=64)],
) -> Response:
    event = post.one("event")

    def write(engine: Engine, defn: Any, roles: list[str], expected: int) -> CaseView:
        item = engine.item(case_id, item_id)
        it = defn.item_types[item.type]
        schema = next(
            (
                t.payload_schema
                for t in it.transitions
                if t.source == item.state and t.event == event and t.payload_schema
            ),
            None,
        )
        payload = payload_from(post.form, fields_for(schema))
        return engine.send_item(
            case_id, item_id, event, payload, actor=post.op.actor, roles=roles,
            expected_version=expected,
        )  # fmt: skip

    return _item_write(request, post, case_id, write, "")
