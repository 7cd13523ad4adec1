"""Request and response bodies: typed, validated, and the source of the OpenAPI document."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$"


class OpenCaseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workflow: str = Field(pattern=NAME_PATTERN, description="workflow name")
    record: dict[str, Any] = Field(
        default_factory=dict, description="the case record (checked against the case schema)"
    )


class SendEventRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event: str = Field(pattern=NAME_PATTERN, description="event name")
    payload: dict[str, Any] = Field(default_factory=dict, description="event payload")


class AddItemRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(pattern=NAME_PATTERN, description="the item type (the workflow's `items:`)")
    payload: dict[str, Any] = Field(
        default_factory=dict, description="the creation payload (checked against its schema)"
    )
    item_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$",
        description="the item's id in the case; default `<type>-<n>`",
    )


class TimerOut(BaseModel):
    id: int
    case_id: str
    name: str
    event: str
    state: str
    due_at: str | None
    status: str
    recurring: bool
    remaining_seconds: float | None = None
    attempts: int = Field(0, description="failed firings so far; each is retried with backoff")
    last_error: str | None = Field(None, description="exception type of the last failed firing")
    scope: str = Field(
        "state",
        description="'state': a timer of a state; 'clock': a case clock (deadline or watchdog) "
        "running across states, its `state` the one it started in",
    )
    fired_at: str | None = Field(
        None,
        description="for a clock with status 'overdue': when its deadline passed or it lapsed "
        "(the case is overdue until the clock is stopped or restarted)",
    )
    item_id: str | None = Field(
        None, description="the work item of an item timer (scope 'item' or 'item_clock')"
    )


class ItemOut(BaseModel):
    """A work item of a case (its data only for clients with the 'read' permission)."""

    id: str
    type: str
    state: str
    data: dict[str, Any] | None = Field(
        None, description="the item's data (PHI): present only for clients that may read"
    )
    version: int
    opened_at: str
    updated_at: str
    closed_at: str | None
    closed: bool
    timers: list[TimerOut] = Field(default_factory=list)


class ItemsOut(BaseModel):
    case_id: str
    items: list[ItemOut]


class EventOptionOut(BaseModel):
    event: str
    allowed: bool
    reason: str | None = Field(
        default=None, description="wrong_state | guard_false | role_missing | guard_error"
    )
    detail: str | None = None
    roles: list[str] = Field(default_factory=list)


class CaseOut(BaseModel):
    id: str
    workflow: str
    workflow_version: int
    state: str
    phase: str
    version: int
    record: dict[str, Any] | None = Field(
        None,
        description="the case record (PHI): present only for clients with the 'read' "
        "permission, and each response that carries it is audited as a read",
    )
    opened_at: str
    updated_at: str
    closed_at: str | None
    pending_timers: list[TimerOut]
    allowed_events: list[EventOptionOut] = Field(
        default_factory=list, description="every event of the workflow, for the caller's roles"
    )
    items: list[ItemOut] = Field(
        default_factory=list, description="every work item of the case, oldest first"
    )


class CaseSummary(BaseModel):
    """A search hit: no record (read a case to see it; that read is audited)."""

    id: str
    workflow: str
    workflow_version: int
    state: str
    phase: str
    version: int
    opened_at: str
    updated_at: str
    closed_at: str | None
    pending_timers: list[TimerOut]


class CasePage(BaseModel):
    items: list[CaseSummary]
    next_cursor: str | None


class HistoryEntryOut(BaseModel):
    case_id: str
    seq: int
    event: str
    from_state: str | None
    to_state: str
    actor: str
    roles: list[str]
    payload: dict[str, Any]
    idempotency_key: str | None
    workflow_version: int
    recorded_at: str
    outcome: str
    timer: str | None = None
    lateness_seconds: float | None = None
    hash: str = ""
    prev_hash: str = ""
    client: str | None = Field(
        None, description="the API client that acted on behalf of actor (an end user)"
    )
    item_id: str | None = Field(None, description="the work item an item event changed")
    item_from: str | None = Field(None, description="the item's state before (None: created)")
    item_to: str | None = Field(None, description="the item's state after")


class HistoryOut(BaseModel):
    case_id: str
    entries: list[HistoryEntryOut]


class DefinitionSummary(BaseModel):
    name: str
    version: int
    title: str
    model: str
    initial: str
    states: list[str]
    events: list[str]
    roles: list[str]
    content_hash: str


class StateOut(BaseModel):
    name: str
    phase: str
    description: str
    final: bool
    hold: bool
    timers: list[dict[str, Any]]


class TransitionOut(BaseModel):
    source: str
    event: str
    target: str | None
    guard: str | None
    roles: list[str]
    description: str


class DefinitionOut(DefinitionSummary):
    description: str
    timezone: str
    case_schema: dict[str, Any]
    parameters: dict[str, Any]
    states_detail: list[StateOut]
    transitions: list[TransitionOut]


class DefinitionList(BaseModel):
    items: list[DefinitionSummary]


class HealthOut(BaseModel):
    status: str


class ReadyOut(BaseModel):
    status: str
    checks: dict[str, str]


class Problem(BaseModel):
    """RFC 9457 problem details (extension members vary by ``type``)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str


_PROBLEM_DESCRIPTIONS = {
    400: "Malformed request (invalid JSON, too deeply nested, bad cursor)",
    401: "Missing or invalid bearer token",
    403: "The client lacks the permission or the role",
    404: "Unknown case or workflow",
    409: "The event is not allowed now, or a concurrent change",
    412: "If-Match does not match the case version",
    413: "Request body too large",
    422: "Request, record or payload invalid; idempotency key reused",
}


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for problem+json errors."""
    schema = {"$ref": "#/components/schemas/Problem"}
    return {
        code: {
            "description": _PROBLEM_DESCRIPTIONS.get(code, "Error"),
            "content": {"application/problem+json": {"schema": schema}},
        }
        for code in codes
    }


# -- case continuity (engine/api/routes_continuity.py) ------------------------------------


class TransferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to_workflow: str = Field(pattern=NAME_PATTERN, description="the workflow to continue in")
    event: str | None = Field(
        None, pattern=NAME_PATTERN, description="the transfer's event, when several lead there"
    )
    payload: dict[str, Any] = Field(default_factory=dict, description="the transfer's payload")


class TransferOut(BaseModel):
    source: CaseOut = Field(description="the case, closed in its workflow")
    target: CaseOut = Field(description="the linked case, open in the target workflow")


class ReopenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event: str | None = Field(
        None, pattern=NAME_PATTERN, description="the reopening's event, when several are declared"
    )
    payload: dict[str, Any] = Field(default_factory=dict, description="the reopening's payload")


class CaseLinkOut(BaseModel):
    kind: str = Field(description="'transfer'")
    direction: str = Field(
        description="'to': this case continued as case_id; 'from': it came from it"
    )
    case_id: str = Field(description="the other case")
    source_case_id: str
    source_seq: int = Field(description="the source's closing history row")
    target_case_id: str
    target_seq: int = Field(description="the target's opening history row")
    actor: str
    created_at: str


class CaseLinksOut(BaseModel):
    case_id: str
    links: list[CaseLinkOut]
