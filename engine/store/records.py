"""What the runtime reads from and writes to the store: typed records and closed vocabularies.

Pure data, no driver: the runtime builds and reads these, the store maps them
to rows (``engine/store/mapping.py`` for the SQLAlchemy store). Records are
frozen slots dataclasses, cheap to build. Every closed vocabulary stored in a
column is a :class:`~enum.StrEnum` whose values are exactly the stored strings
(and the strings in JSON), so a member compares equal to the text it stands for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class TimerStatus(StrEnum):
    """``timers.status``."""

    PENDING = "pending"  #: armed, waiting for ``due_at``
    PAUSED = "paused"  #: its case is in a hold state; resumes when the case returns
    FIRED = "fired"  #: claimed by a firing (the transaction that applied its event)
    CANCELLED = "cancelled"  #: its state entry ended before it was due, or it was stale
    #: a case clock that fired (a deadline passed, a watchdog lapsed): the case is overdue
    #: until the clock is stopped or restarted, when the row becomes ``fired``
    OVERDUE = "overdue"


class TimerScope(StrEnum):
    """``timers.scope``: what a timer row belongs to (revision 0006)."""

    STATE = "state"  #: a state's timer: armed on entry, cancelled when the state entry ends
    CLOCK = "clock"  #: a case clock: runs across states until stopped (engine/runtime/clocks.py)
    ITEM = "item"  #: a work item's state timer (``item_id`` set; revision 0011)
    ITEM_CLOCK = "item_clock"  #: a work item's clock, across the item's states (revision 0011)


LIVE_TIMER_STATUSES = (TimerStatus.PENDING, TimerStatus.PAUSED)


class OutboxStatus(StrEnum):
    """``outbox.status``."""

    PENDING = "pending"  #: to be delivered at ``next_attempt_at`` (or leased right now)
    DONE = "done"  #: the action returned
    DEAD = "dead"  #: dead-lettered: out of attempts, or no action registered


class HistoryOutcome(StrEnum):
    """``history.outcome``: what one history row records."""

    OPENED = "opened"  #: the case was opened
    TRANSITIONED = "transitioned"  #: an event moved the case to another state (or re-entered)
    INTERNAL = "internal"  #: an event was applied without leaving the state
    TIMER = "timer"  #: a timer fired and its event was applied
    TIMER_IGNORED = "timer_ignored"  #: a timer fired and no transition accepted its event
    ITEM_CREATED = "item_created"  #: a work item was added to the case (event ``@create``)
    ASSIGNED = "assigned"  #: the case's assignee or team changed (event '@assign')
    #: a transfer closed the case here; its payload's ``@link`` names the linked case
    TRANSFERRED_OUT = "transferred_out"
    #: the case was opened by a transfer from another workflow (``@link`` names the source)
    TRANSFERRED_IN = "transferred_in"
    REOPENED = "reopened"  #: a closed case was reopened (a ``reopen:`` declaration)
    #: the case moved to another version of its workflow (``casework migrate run``)
    MIGRATED = "migrated"
    #: the case was brought in from another system (``casework import``), in its state
    IMPORTED = "imported"


class RejectionReason(StrEnum):
    """Why an event is not accepted (``EventRejected.reason``, ``EventOption.reason``)."""

    WRONG_STATE = "wrong_state"  #: no transition for the event from the case's state
    GUARD_FALSE = "guard_false"  #: every candidate transition's guard was false
    ROLE_MISSING = "role_missing"  #: the sender has none of the roles the transition needs
    GUARD_ERROR = "guard_error"  #: a guard could not be evaluated over the case data
    #: work items (revision 0011): the workflow declares no such item type
    UNKNOWN_ITEM_TYPE = "unknown_item_type"
    CASE_STATE = "case_state"  #: the item type may not be added in the case's state
    ITEM_LIMIT = "item_limit"  #: the case holds the type's maximum number of items
    ITEM_CLOSED = "item_closed"  #: the item is in a final state: nothing changes it
    #: the target state requires an assignee and the case has none (ownership)
    ASSIGNEE_MISSING = "assignee_missing"


@dataclass(frozen=True, slots=True)
class CaseRecord:
    """One case (``cases``)."""

    id: str
    workflow_name: str
    workflow_version: int
    state: str
    phase: str
    record: dict[str, Any]
    version: int
    previous_state: str | None
    state_entry_seq: int
    last_hash: str
    overdue_since: datetime | None
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None


#: The fields a change of the case may set (all but the id, workflow and opening instant).
CASE_MUTABLE = (
    "state",
    "phase",
    "record",
    "version",
    "previous_state",
    "state_entry_seq",
    "last_hash",
    "overdue_since",
    "updated_at",
    "closed_at",
)


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    """One hash-chained history row (``history``)."""

    case_id: str
    seq: int
    event: str
    from_state: str | None
    to_state: str
    actor: str
    roles: tuple[str, ...]
    payload: dict[str, Any]
    idempotency_key: str | None
    workflow_version: int
    recorded_at: datetime
    outcome: HistoryOutcome
    timer: str | None
    lateness_seconds: float | None
    prev_hash: str
    hash: str
    record_hash: str | None  # None on rows written before revision 0002
    # sha256 of the case's head after this row: state, phase, closure... (revision 0009)
    head_hash: str | None = None
    #: the API client that acted on behalf of ``actor`` (an end user); None when the
    #: actor acted itself (revision 0008; covered by the hash when set)
    client: str | None = None
    #: the row's place in the change feed: commit order (assigned by the store on insert)
    change_seq: int | None = None
    #: revision 0011: the work item an item event changed (None on case rows), its state
    #: before (None on its creation row) and after; covered by the hash when ``item_id`` is set
    item_id: str | None = None
    item_from: str | None = None
    item_to: str | None = None

    def hashed_fields(self) -> dict[str, Any]:
        """The fields :func:`engine.runtime.audit.row_hash` covers, by name."""
        return {
            "item_id": self.item_id,
            "item_from": self.item_from,
            "item_to": self.item_to,
            "case_id": self.case_id,
            "seq": self.seq,
            "event": self.event,
            "from_state": self.from_state,
            "to_state": self.to_state,
            "actor": self.actor,
            "roles": self.roles,
            "payload": self.payload,
            "idempotency_key": self.idempotency_key,
            "workflow_version": self.workflow_version,
            "recorded_at": self.recorded_at,
            "outcome": self.outcome,
            "timer": self.timer,
            "lateness_seconds": self.lateness_seconds,
            "prev_hash": self.prev_hash,
            "record_hash": self.record_hash,
            "head_hash": self.head_hash,
            "client": self.client,
        }


@dataclass(frozen=True, slots=True)
class TimerRecord:
    """One timer (``timers``); ``id`` is None until it is inserted."""

    id: int | None
    case_id: str
    name: str
    event: str
    state: str
    state_entry_seq: int
    due_at: datetime | None
    status: TimerStatus
    recurring: bool
    pausable: bool
    remaining_seconds: float | None
    created_at: datetime
    fired_at: datetime | None = None
    paused_at: datetime | None = None  # while paused: when the pause began (revision 0004)
    paused_due_at: datetime | None = None  # while paused: when it was due then
    attempts: int = 0  # failed firings so far, each postponed with backoff (revision 0005)
    last_error: str | None = None  # exception type of the last failed firing
    scope: TimerScope = TimerScope.STATE  # a state's timer or a case clock (revision 0006)
    item_id: str | None = None  # the work item of an item timer or clock (revision 0011)


@dataclass(frozen=True, slots=True)
class ItemRecord:
    """One work item of a case (``case_items``, revision 0011)."""

    case_id: str
    item_id: str
    workflow_name: str
    type: str
    state: str
    data: dict[str, Any]
    version: int  # 1 when created, +1 on every change of the item
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None  # set when the item entered a final state
    opened_seq: int  # the case history seq that created it
    state_entry_seq: int  # the case history seq that entered its current state

    @property
    def closed(self) -> bool:
        return self.closed_at is not None


#: The fields a change of an item may set (``type``: only a migration changes it).
ITEM_MUTABLE = ("type", "state", "data", "version", "updated_at", "closed_at", "state_entry_seq")


@dataclass(frozen=True, slots=True)
class ClaimedTimer:
    """A due timer claimed for firing, its locked case and the instant of the claim."""

    timer: TimerRecord
    case: CaseRecord
    now: datetime


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """One action to deliver (``outbox``); ``id`` is None until it is inserted."""

    id: int | None
    case_id: str
    history_seq: int
    action: str
    event: str
    workflow_name: str
    workflow_version: int
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    #: what the workflow's CEL computed for the action when it was queued (None: nothing)
    arguments: dict[str, Any] | None = None
    #: the fencing token: raised each time the item is leased (0: never leased)
    lease_token: int = 0
    #: the worker holding the lease (pull delivery), or None
    locked_by: str | None = None


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """A request's idempotency key, its fingerprint and the response to replay."""

    key: str
    fingerprint: str
    case_id: str
    response: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DefinitionRecord:
    """One registered workflow version, as JSON (``workflow_definitions``)."""

    name: str
    version: int
    content_hash: str
    source_text: str
    ir: dict[str, Any]
    registered_at: datetime


@dataclass(frozen=True, slots=True)
class CaseQuery:
    """Filters of a case search; None means "any"."""

    workflow: str | None = None
    state: str | None = None
    phase: str | None = None
    overdue: bool | None = None
    opened_after: datetime | None = None
    opened_before: datetime | None = None
    closed: bool | None = None
    keys: tuple[tuple[str, str], ...] = ()  # business keys (name, value as text), revision 0008
    item_type: str | None = None  # cases with an item of this type (revision 0011)
    item_state: str | None = None  # ... with an item in this state (of item_type, if given)
    item_overdue: bool | None = None  # cases with (True) / without (False) an overdue item


@dataclass(frozen=True, slots=True)
class ItemQuery:
    """Filters of a cross-case item listing (:meth:`engine.Engine.find_items`); None: any.

    ``overdue``: an open item with a pending timer or clock of its own past due (the
    worker has not fired it yet) or an item clock row left overdue.
    """

    workflow: str | None = None
    item_type: str | None = None
    state: str | None = None
    open: bool | None = None  # True: not in a final state; False: closed
    overdue: bool | None = None


class CaseSort(StrEnum):
    """The order of a case search (``engine/store/worklist_queries.py`` defines each)."""

    OPENED = "opened"  #: oldest opened first
    LATE = "late"  #: most late first; cases that are not late last
    DUE = "due"  #: next deadline first; cases with no pending timer last


SORT_NEVER = datetime(9999, 12, 31, tzinfo=UTC)
"""The instant a case sorts by when it is not late (``late``) or has no deadline (``due``)."""


@dataclass(frozen=True, slots=True)
class AccessRecord:
    """One audited read or operator action (``access_log``), hash-chained by ``seq``
    (revision 0009): ``hash`` covers the other fields, ``prev_hash`` the row before."""

    actor: str
    case_id: str | None
    what: str
    at: datetime
    seq: int
    prev_hash: str
    hash: str
    client: str | None = None  # the API client acting on behalf of ``actor`` (revision 0008)


@dataclass(frozen=True, slots=True)
class CheckpointRecord:
    """One audit checkpoint (``audit_checkpoints``, revision 0009): every case's head
    and the access log's head at one snapshot, chained to the checkpoint before and
    sealed by ``digest`` (an HMAC under the operator's key when ``signed``)."""

    id: int
    taken_at: datetime
    heads: list[list[Any]]  # [case_id, version, last_hash], by case id
    access_seq: int
    access_hash: str
    prev_digest: str
    signed: bool
    digest: str


@dataclass(frozen=True, slots=True)
class CaseKeyRecord:
    """One business key of a case (``case_keys``, revision 0008).

    ``value`` is the record field's value as text (strings as they are, integers
    in decimal); ``unique`` when the workflow declares the key unique among open
    cases (stored as ``open_unique``: the workflow name while the case is open).
    """

    case_id: str
    name: str
    workflow_name: str
    value: str
    unique: bool
    open: bool


# -- ownership (revision 0012; engine/runtime/ownership.py) -------------------------------


class StaffSource(StrEnum):
    """``staff.source``: who keeps a directory entry."""

    API = "api"  #: written through the API (``PUT /v1/staff/{id}``, ``Engine.put_staff``)
    FILE = "file"  #: imported from the configured directory file (``casework staff import``)


@dataclass(frozen=True, slots=True)
class StaffRecord:
    """A person cases may be assigned to (``staff``). Ids only: no names, no contact data."""

    id: str
    active: bool
    teams: tuple[str, ...]
    roles: tuple[str, ...]  # the workflow roles the person holds (what a worklist offers)
    source: StaffSource
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True, slots=True)
class OwnerRecord:
    """Who holds one case (``case_owners``); assignee and team None: unassigned."""

    case_id: str
    workflow_name: str
    assignee: str | None
    team: str | None
    weight: float
    opened_at: datetime
    assigned_at: datetime
    first_assigned_at: datetime | None
    closed_at: datetime | None


@dataclass(frozen=True, slots=True)
class CaseloadRow:
    """Open cases of one assignee (or team) in one workflow, counted and weighted."""

    holder: str
    workflow_name: str
    cases: int
    weighted: float


@dataclass(frozen=True, slots=True)
class WorklistQuery:
    """Whose deadlines: an assignee, a team, or the (workflow, state) pairs a role may act
    in; and which: due before an instant, or overdue only. None means "any"."""

    assignee: str | None = None
    team: str | None = None
    states: tuple[tuple[str, str], ...] | None = None
    due_before: datetime | None = None
    overdue: bool = False


@dataclass(frozen=True, slots=True)
class WorklistRow:
    """One deadline on a worklist: from a timer or clock row (``source``), of one case."""

    due_at: datetime
    source: str  # 'timer' | 'clock' | 'item' | 'item_clock' (engine/store/worklist_queries.py)
    ref: int  # the id of the row it came from, unique within its source
    name: str
    event: str
    status: str
    case_id: str
    workflow_name: str
    state: str
    assignee: str | None
    team: str | None
    item_id: str | None = None  # the work item a deadline of source 'item'/'item_clock' is of


class CaseLinkKind(StrEnum):
    """``case_links.kind`` (revision 0013)."""

    TRANSFER = "transfer"  #: the source closed in its workflow and continues as the target


@dataclass(frozen=True, slots=True)
class CaseLinkRecord:
    """Two cases linked by a transfer (``case_links``, revision 0013).

    ``source_seq``/``source_hash`` are the source's closing history row and
    ``target_seq``/``target_hash`` the target's opening row: each row's payload
    names the other case under ``@link``, and the target's row carries the
    source row's hash, so the audit walk checks the link from both sides.
    """

    kind: CaseLinkKind
    source_case_id: str
    source_seq: int
    source_hash: str
    target_case_id: str
    target_seq: int
    target_hash: str
    actor: str
    created_at: datetime
    id: int | None = None
