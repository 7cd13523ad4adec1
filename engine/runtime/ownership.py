"""Ownership: the staff directory, assigning cases, caseloads, bulk reassignment.

* **The directory** (``staff``) is a table the host keeps through the API
  (:func:`put_staff`, ``PUT /v1/staff/{id}``) or by importing its HR export
  (:func:`import_staff`, ``casework staff import FILE``). A table, not a file read at
  assignment time: the check that a person exists and is active runs inside the
  assignment's transaction, every process sees the same directory, and each change is
  attributed in the hash-chained access log. An import makes the file the truth for
  the entries it wrote: a person it wrote before and no longer lists becomes inactive;
  entries written through the API are left as they are.
* **An assignment** (:func:`assign`) is a row of the case's hash-chained history,
  event ``@assign``, outcome ``assigned``, with the actor, the reason and the
  previous and new assignee and team in its payload; the case's version rises, so
  ``expected_version`` and idempotency keys work as for events. ``case_owners`` holds
  the current holder for the queries.
* **Caseloads** (:func:`caseloads`) count open cases per assignee or team, weighted by
  the workflow's acuity weights, against each workflow's ``caseload_target`` (the
  model's ratio): a holder's load is the sum over workflows of weighted cases / target,
  over target above 1.
* **Bulk reassignment** (:func:`bulk_reassign`): one transaction per case, a dry run,
  a progress callback, a result per case; a retry changes nothing twice (a case
  already held by a target is left alone; with a key, each case's change is replayed).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from engine.errors import (
    AssignDenied,
    AssignmentRejected,
    CaseNotFound,
    ConcurrencyConflict,
    EngineError,
    EventRejected,
    IdempotencyKeyReused,
    OwnershipInputInvalid,
)
from engine.runtime.audit import fingerprint
from engine.runtime.audit_trail import append_access
from engine.runtime.context import EngineContext
from engine.runtime.idempotency import run_idempotent_any
from engine.runtime.json_policy import require_case_id
from engine.runtime.machine import CompiledWorkflow
from engine.runtime.transact import HistoryFacts, case_head_hash, history_record
from engine.runtime.views import EventOption
from engine.store.interface import StoreTransaction
from engine.store.records import (
    CaseRecord,
    HistoryOutcome,
    IdempotencyRecord,
    OwnerRecord,
    RejectionReason,
    StaffRecord,
    StaffSource,
)

ASSIGN_EVENT = "@assign"
PERSON_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,199}$")
TEAM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_REASON = 500
MAX_BULK = 10_000


@dataclass(frozen=True, slots=True)
class Assignment:
    """The outcome of one assignment: who holds the case now, and who did before."""

    case_id: str
    version: int
    assignee: str | None
    team: str | None
    previous_assignee: str | None
    previous_team: str | None
    changed: bool  # False: the case already had this assignee and team (no history row)
    operation: str  # assign | reassign | unassign | transfer

    def to_dict(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "version": self.version,
            "assignee": self.assignee,
            "team": self.team,
            "previous_assignee": self.previous_assignee,
            "previous_team": self.previous_team,
            "changed": self.changed,
            "operation": self.operation,
        }


@dataclass(frozen=True, slots=True)
class Caseload:
    """One assignee's (or team's) open cases against the targets of their workflows."""

    holder: str
    cases: int
    weighted: float
    load: float | None  # sum of weighted / target per workflow; None: no workflow has one
    over_target: bool
    by_workflow: tuple[tuple[str, int, float, float | None], ...]  # (workflow, n, w, target)

    def to_dict(self) -> dict[str, Any]:
        return {
            "holder": self.holder,
            "cases": self.cases,
            "weighted": round(self.weighted, 3),
            "load": None if self.load is None else round(self.load, 3),
            "over_target": self.over_target,
            "by_workflow": [
                {"workflow": w, "cases": n, "weighted": round(x, 3), "target": t}
                for w, n, x, t in self.by_workflow
            ],
        }


@dataclass(frozen=True, slots=True)
class BulkOutcome:
    """What happened to one case of a bulk reassignment."""

    case_id: str
    outcome: str  # planned | reassigned | unchanged | rejected
    assignee: str | None = None
    previous_assignee: str | None = None
    error: str | None = None  # the error code when rejected
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in _fields(self).items() if v is not None}


def _fields(o: BulkOutcome) -> dict[str, Any]:
    return {
        "case_id": o.case_id,
        "outcome": o.outcome,
        "assignee": o.assignee,
        "previous_assignee": o.previous_assignee,
        "error": o.error,
        "detail": o.detail,
    }


@dataclass(frozen=True, slots=True)
class BulkReport:
    dry_run: bool
    results: tuple[BulkOutcome, ...]
    counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "counts": dict(self.counts),
            "results": [r.to_dict() for r in self.results],
        }


# -- the directory ------------------------------------------------------------------


def _check_person(person: str) -> None:
    if not PERSON_ID.match(person):
        raise OwnershipInputInvalid(
            "a person id is 1 to 200 letters, digits and _ . @ - (starting with a letter or digit)"
        )


def _check_teams(teams: Iterable[str]) -> tuple[str, ...]:
    out = tuple(teams)
    for team in out:
        if not TEAM_ID.match(team):
            raise OwnershipInputInvalid(
                "a team id is 1 to 64 letters, digits and _ . - (starting with a letter or digit)"
            )
    return out


def put_staff(
    ctx: EngineContext,
    person: str,
    *,
    active: bool = True,
    teams: Sequence[str] = (),
    roles: Sequence[str] = (),
    actor: str,
    source: StaffSource = StaffSource.API,
    client: str | None = None,
) -> StaffRecord:
    """Insert or replace a directory entry; audited in the access log. Raises OwnershipInputInvalid
    for a malformed id or team."""
    _check_person(person)
    rec_teams = _check_teams(teams)
    with ctx.store.write() as tx:
        now = ctx.now(tx)
        rec = StaffRecord(person, active, rec_teams, tuple(roles), source, now, actor)
        tx.put_staff(rec)
        append_access(
            tx, actor=actor, case_id=None, what=f"staff_put:{person}", at=now, client=client
        )
    return rec


def import_staff(
    ctx: EngineContext, entries: Sequence[Mapping[str, Any]], *, actor: str
) -> dict[str, int]:
    """Make the directory follow an imported file: each entry (``id``, ``teams``,
    ``roles``, ``active``) written with source 'file'; a person imported before and
    absent now becomes inactive. One transaction; returns counts. Raises OwnershipInputInvalid
    naming the entry index of a malformed one (nothing is written then)."""
    wanted: dict[str, StaffRecord] = {}
    for i, entry in enumerate(entries):
        person = entry.get("id")
        teams = entry.get("teams", [])
        roles = entry.get("roles", [])
        active = entry.get("active", True)
        if not isinstance(person, str) or not PERSON_ID.match(person):
            raise OwnershipInputInvalid(f"staff[{i}].id: a person id is required")
        if not (isinstance(teams, list) and all(isinstance(t, str) for t in teams)):
            raise OwnershipInputInvalid(f"staff[{i}].teams: a list of team ids is required")
        if not (isinstance(roles, list) and all(isinstance(r, str) for r in roles)):
            raise OwnershipInputInvalid(f"staff[{i}].roles: a list of role names is required")
        if not isinstance(active, bool):
            raise OwnershipInputInvalid(f"staff[{i}].active: true or false is required")
        if person in wanted:
            raise OwnershipInputInvalid(f"staff[{i}].id: {person!r} is listed twice")
        try:
            checked = _check_teams(teams)
        except OwnershipInputInvalid as exc:
            raise OwnershipInputInvalid(f"staff[{i}].teams: {exc.message}") from None
        wanted[person] = StaffRecord(
            person, active, checked, tuple(roles), StaffSource.FILE, ctx.clock.now(), actor
        )
    counts = {"written": 0, "deactivated": 0}
    with ctx.store.write() as tx:
        now = ctx.now(tx)
        after: str | None = None
        while True:
            page = tx.list_staff(limit=500, after=after)
            if not page:
                break
            for old in page:
                if old.source == StaffSource.FILE and old.id not in wanted and old.active:
                    tx.put_staff(replace(old, active=False, updated_at=now, updated_by=actor))
                    counts["deactivated"] += 1
            after = page[-1].id
        for rec in wanted.values():
            tx.put_staff(replace(rec, updated_at=now))
            counts["written"] += 1
        what = f"staff_import:{counts['written']}:{counts['deactivated']}"
        append_access(tx, actor=actor, case_id=None, what=what, at=now)
    return counts


# -- assigning ----------------------------------------------------------------------


def _resolve_team(
    case_id: str,
    allowed: tuple[str, ...],
    staff: StaffRecord | None,
    team: str | None,
    current_team: str | None,
) -> str | None:
    person_teams = staff.teams if staff is not None else ()
    if team is not None:
        if allowed and team not in allowed:
            raise AssignmentRejected(
                case_id=case_id,
                reason="team-not-allowed",
                detail=f"team {team!r} is not one the workflow allows",
                allowed=allowed,
            )
        if staff is not None and person_teams and team not in person_teams:
            raise AssignmentRejected(
                case_id=case_id,
                reason="team-not-allowed",
                detail=f"person {staff.id!r} is not a member of team {team!r}",
                allowed=tuple(t for t in person_teams if not allowed or t in allowed),
            )
        return team
    if staff is None:  # unassigning: the case stays with its team
        return current_team
    candidates = [t for t in person_teams if not allowed or t in allowed]
    if current_team is not None and current_team in candidates:
        return current_team
    if candidates:
        return candidates[0]
    if allowed:
        raise AssignmentRejected(
            case_id=case_id,
            reason="no-team",
            detail=f"person {staff.id!r} belongs to none of the teams the workflow allows",
            allowed=allowed,
        )
    return None


def _operation(previous: str | None, assignee: str | None, given: str | None) -> str:
    if given is not None:
        return given
    if assignee is None:
        return "unassign"
    return "assign" if previous is None else "reassign"


def assign_in(
    ctx: EngineContext,
    tx: StoreTransaction,
    case_id: str,
    *,
    assignee: str | None,
    team: str | None,
    reason: str,
    facts: HistoryFacts,
    expected_version: int | None = None,
    operation: str | None = None,
) -> Assignment:
    """:func:`assign` inside the caller's write transaction (no idempotency here)."""
    locked = tx.lock_case(case_id, with_db_now=ctx.use_db_clock)
    if locked is None:
        raise CaseNotFound(case_id)
    case, db_now = locked
    if expected_version is not None and expected_version != case.version:
        raise ConcurrencyConflict(
            case_id=case_id,
            expected_version=expected_version,
            actual_version=case.version,
            state=case.state,
        )
    d = ctx.registry.get(case.workflow_name, case.workflow_version)
    own = d.ownership
    if own is None:
        raise AssignDenied(workflow=d.name, allowed_roles=())
    own.check_may_assign(d.name, facts.roles)
    if case.closed_at is not None:
        raise AssignmentRejected(
            case_id=case_id, reason="case-closed", detail=f"the case closed in state {case.state!r}"
        )
    staff = None
    if assignee is not None:
        staff = tx.get_staff(assignee)
        if staff is None:
            raise AssignmentRejected(
                case_id=case_id,
                reason="unknown-person",
                detail=f"person {assignee!r} is not in the staff directory",
            )
        if not staff.active:
            raise AssignmentRejected(
                case_id=case_id,
                reason="inactive-person",
                detail=f"person {assignee!r} is inactive in the staff directory",
            )
    current = tx.get_owner(case_id)
    prev_assignee = current.assignee if current else None
    prev_team = current.team if current else None
    new_team = _resolve_team(case_id, own.teams, staff, team, prev_team)
    op = _operation(prev_assignee, assignee, operation)
    if prev_assignee == assignee and prev_team == new_team:
        return Assignment(
            case_id, case.version, assignee, new_team, prev_assignee, prev_team, False, op
        )
    now = db_now if db_now is not None else ctx.clock.now()
    seq = case.version + 1
    payload = {
        "operation": op,
        "assignee": assignee,
        "team": new_team,
        "previous_assignee": prev_assignee,
        "previous_team": prev_team,
        "reason": reason,
    }
    hist = history_record(
        case_id=case_id,
        seq=seq,
        event=ASSIGN_EVENT,
        from_state=case.state,
        to_state=case.state,
        outcome=HistoryOutcome.ASSIGNED,
        workflow_version=case.workflow_version,
        facts=replace(facts, payload=payload),
        now=now,
        prev_hash=case.last_hash,
        record=case.record,
        head=case_head_hash(case),
    )
    after = replace(case, version=seq, last_hash=hist.hash, updated_at=now)
    if not tx.advance_case(case, after, hist):  # pragma: no cover - the case is locked
        raise ConcurrencyConflict(
            case_id=case_id, expected_version=case.version, actual_version=-1, state=case.state
        )
    first = current.first_assigned_at if current else None
    if first is None and assignee is not None:
        first = now
    tx.put_owner(
        OwnerRecord(
            case_id,
            case.workflow_name,
            assignee,
            new_team,
            own.weight_of(case.record),
            case.opened_at,
            now,
            first,
            None,
        )
    )
    return Assignment(case_id, seq, assignee, new_team, prev_assignee, prev_team, True, op)


def _check_reason(reason: str) -> None:
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
        raise OwnershipInputInvalid(f"an assignment needs a reason of 1 to {MAX_REASON} characters")


def assign(
    ctx: EngineContext,
    case_id: str,
    assignee: str | None,
    *,
    team: str | None = None,
    reason: str,
    actor: str,
    roles: Sequence[str],
    client: str | None = None,
    idempotency_key: str | None = None,
    expected_version: int | None = None,
    operation: str | None = None,
) -> Assignment:
    """Assign the case to ``assignee`` (None: unassign) and ``team`` (None: the person's
    team the workflow allows, or the current one).

    Raises CaseNotFound, AssignDenied (no role of ``ownership.assign_roles``, or no
    ownership), AssignmentRejected (unknown or inactive person, team not allowed, closed
    case), ConcurrencyConflict, IdempotencyKeyReused, OwnershipInputInvalid (no reason, bad id)."""
    require_case_id(case_id)
    _check_reason(reason)
    if assignee is not None:
        _check_person(assignee)
    if team is not None:
        _check_teams([team])
    facts = HistoryFacts(actor, tuple(roles), {}, idempotency_key, client=client)
    fp = None
    if idempotency_key is not None:
        fp = fingerprint(
            {
                "op": "assign",
                "case": case_id,
                "assignee": assignee,
                "team": team,
                "reason": reason,
                "actor": actor,
                "roles": sorted(roles),
                "expected_version": expected_version,
                **({"client": client} if client is not None else {}),
            }
        )

    def attempt(tx: StoreTransaction) -> Assignment:
        stored = _replay(tx, idempotency_key, fp)
        if stored is not None:
            return stored
        done = assign_in(
            ctx,
            tx,
            case_id,
            assignee=assignee,
            team=team,
            reason=reason,
            facts=facts,
            expected_version=expected_version,
            operation=operation,
        )
        if idempotency_key is not None and fp is not None:
            now = ctx.now(tx)
            tx.insert_idempotency(
                IdempotencyRecord(idempotency_key, fp, case_id, done.to_dict(), now)
            )
        return done

    return run_idempotent_any(ctx.store, idempotency_key, attempt)


def _replay(tx: StoreTransaction, key: str | None, fp: str | None) -> Assignment | None:
    if key is None:
        return None
    entry = tx.get_idempotency(key)
    if entry is None:
        return None
    if entry.fingerprint != fp:
        raise IdempotencyKeyReused(key)
    r = entry.response
    return Assignment(
        r["case_id"],
        r["version"],
        r["assignee"],
        r["team"],
        r["previous_assignee"],
        r["previous_team"],
        r["changed"],
        r["operation"],
    )


# -- caseloads ----------------------------------------------------------------------


def _targets(ctx: EngineContext) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for d in ctx.registry.all():  # by name then version: the newest version's target wins
        out[d.name] = d.ownership.caseload_target if d.ownership is not None else None
    return out


def caseloads(
    ctx: EngineContext, *, by: str = "assignee", holders: Sequence[str] | None = None
) -> list[Caseload]:
    """Open cases per assignee (or team, ``by='team'``) against the model's ratio, most
    loaded first. Raises ValueError for another ``by``."""
    if by not in ("assignee", "team"):
        raise ValueError("caseloads are by 'assignee' or 'team'")
    with ctx.store.read() as tx:
        rows = tx.caseloads(by, holders)
    targets = _targets(ctx)
    grouped: dict[str, list[tuple[str, int, float, float | None]]] = {}
    for row in rows:
        grouped.setdefault(row.holder, []).append(
            (row.workflow_name, row.cases, row.weighted, targets.get(row.workflow_name))
        )
    out = []
    for holder, parts in grouped.items():
        with_target = [(x, t) for _, _, x, t in parts if t]
        load = sum(x / t for x, t in with_target) if with_target else None
        out.append(
            Caseload(
                holder,
                sum(n for _, n, _, _ in parts),
                sum(x for _, _, x, _ in parts),
                load,
                load is not None and load > 1.0 + 1e-9,
                tuple(parts),
            )
        )
    out.sort(key=lambda c: (-(c.load if c.load is not None else -1.0), c.holder))
    return out


# -- bulk reassignment ----------------------------------------------------------------


Progress = Callable[[int, int, BulkOutcome], None]


def _select(
    ctx: EngineContext,
    case_ids: Sequence[str] | None,
    from_assignee: str | None,
    from_team: str | None,
    workflow: str | None,
) -> list[str]:
    if case_ids is not None:
        ids = list(dict.fromkeys(case_ids))
        if len(ids) > MAX_BULK:
            raise OwnershipInputInvalid(f"a bulk reassignment takes at most {MAX_BULK} cases")
        return ids
    if from_assignee is None and from_team is None:
        raise OwnershipInputInvalid(
            "a bulk reassignment needs case ids or a holder to move cases from"
        )
    out: list[str] = []
    after: str | None = None
    with ctx.store.read() as tx:
        while len(out) <= MAX_BULK:
            page = tx.owned_cases(
                assignee=from_assignee, team=from_team, workflow=workflow, limit=1000, after=after
            )
            out.extend(page)
            if len(page) < 1000:
                break
            after = page[-1]
    if len(out) > MAX_BULK:
        raise OwnershipInputInvalid(
            f"a bulk reassignment takes at most {MAX_BULK} cases; narrow it"
        )
    return out


def bulk_reassign(
    ctx: EngineContext,
    *,
    to: Sequence[str],
    reason: str,
    actor: str,
    roles: Sequence[str],
    case_ids: Sequence[str] | None = None,
    from_assignee: str | None = None,
    from_team: str | None = None,
    workflow: str | None = None,
    team: str | None = None,
    dry_run: bool = False,
    key: str | None = None,
    client: str | None = None,
    progress: Progress | None = None,
) -> BulkReport:
    """Move a set of cases (ids, or every open case of ``from_assignee``/``from_team``)
    to the people ``to``, each case to the one with the least weighted load at that
    moment. One transaction per case; a rejected case is reported and the others go on.
    ``key``: each case's change is stored under ``key:case id`` so a retry replays it.
    Raises OwnershipInputInvalid for an empty ``to``, no reason or too many cases."""
    if not to:
        raise OwnershipInputInvalid(
            "a bulk reassignment needs at least one person to move cases to"
        )
    _check_reason(reason)
    for person in to:
        _check_person(person)
    ids = _select(ctx, case_ids, from_assignee, from_team, workflow)
    loads = {c.holder: c.weighted for c in caseloads(ctx, holders=list(to))}
    load = {p: loads.get(p, 0.0) for p in to}
    results: list[BulkOutcome] = []
    targets = set(to)
    for n, case_id in enumerate(ids, 1):
        outcome = _one(
            ctx, case_id, load, targets, team, reason, actor, roles, dry_run, key, client
        )
        results.append(outcome)
        if progress is not None:
            progress(n, len(ids), outcome)
    counts: dict[str, int] = {}
    for r in results:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    return BulkReport(dry_run, tuple(results), counts)


def _one(
    ctx: EngineContext,
    case_id: str,
    load: dict[str, float],
    targets: set[str],
    team: str | None,
    reason: str,
    actor: str,
    roles: Sequence[str],
    dry_run: bool,
    key: str | None,
    client: str | None,
) -> BulkOutcome:
    try:
        with ctx.store.read() as tx:
            case = tx.get_case(case_id)
            owner = tx.get_owner(case_id)
        if case is None:
            raise CaseNotFound(case_id)
        previous = owner.assignee if owner else None
        if previous in targets:
            return BulkOutcome(case_id, "unchanged", previous, previous)
        d = ctx.registry.get(case.workflow_name, case.workflow_version)
        weight = d.ownership.weight_of(case.record) if d.ownership is not None else 1.0
        person = min(load, key=lambda p: (load[p], list(load).index(p)))
        if dry_run:
            if d.ownership is None:
                raise AssignDenied(workflow=d.name, allowed_roles=())
            d.ownership.check_may_assign(d.name, roles)
            load[person] += weight
            return BulkOutcome(case_id, "planned", person, previous)
        done = assign(
            ctx,
            case_id,
            person,
            team=team,
            reason=reason,
            actor=actor,
            roles=roles,
            client=client,
            idempotency_key=None if key is None else f"{key}:{case_id}"[:200],
            operation="transfer",
        )
        if done.changed:
            load[person] += weight
        return BulkOutcome(
            case_id,
            "reassigned" if done.changed else "unchanged",
            done.assignee,
            done.previous_assignee,
        )
    except EngineError as exc:
        return BulkOutcome(case_id, "rejected", error=exc.code, detail=exc.message)


def require_assignee(tx: StoreTransaction, case: CaseRecord, event: str, target: str) -> None:
    """The ``requires_assignee`` guard of a sent event's target state: raise EventRejected
    (reason ``assignee_missing``) when the case has no assignee."""
    owner = tx.get_owner(case.id)
    if owner is None or owner.assignee is None:
        raise EventRejected(
            case_id=case.id,
            state=case.state,
            event=event,
            reason=RejectionReason.ASSIGNEE_MISSING,
            detail=f"state {target!r} requires an assignee and the case has none",
        )


def gate_unassigned(
    compiled: CompiledWorkflow, case: CaseRecord, options: list[EventOption], assigned: bool
) -> list[EventOption]:
    """``options`` with the events that would enter a ``requires_assignee`` state (every
    candidate transition does) marked not allowed, reason ``assignee_missing``, when the
    case has no assignee. Unchanged otherwise."""
    d = compiled.definition
    if assigned or not any(s.requires_assignee for s in d.states.values()):
        return options
    out = []
    for o in options:
        cands = compiled.candidates(case.state, o.event)
        needs = bool(cands) and all(
            t.target is not None and t.target in d.states and d.states[t.target].requires_assignee
            for t in cands
        )
        if o.allowed and needs:
            detail = "the target state requires an assignee and the case has none"
            o = replace(o, allowed=False, reason=RejectionReason.ASSIGNEE_MISSING, detail=detail)
        out.append(o)
    return out
