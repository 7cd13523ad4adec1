"""Assignment as a first-class part of a case: the directory, the audited history row,
the bad inputs, requires_assignee, caseloads against the target, bulk reassignment;
on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from ownership_support import CLERK, CM, OWNED, SUPERVISOR, open_case, staff_up

from engine.clock import ManualClock
from engine.errors import (
    AssignDenied,
    AssignmentRejected,
    ConcurrencyConflict,
    EngineError,
    EventRejected,
    IdempotencyKeyReused,
)
from engine.runtime.engine import Engine


@pytest.fixture
def eng(database_url: str) -> Iterator[Engine]:
    e = Engine.open(database_url, workflows=OWNED, clock=ManualClock())
    staff_up(e)
    try:
        yield e
    finally:
        e.close()


def test_assignment_is_a_chained_history_row_with_actor_and_reason(eng: Engine) -> None:
    cid = open_case(eng, 1)
    done = eng.assign(cid, "cm-ana", reason="new referral", **SUPERVISOR)
    assert (done.assignee, done.team, done.previous_assignee, done.changed) == (
        "cm-ana",
        "north",
        None,
        True,
    )
    assert done.operation == "assign"
    assert done.version == 2
    again = eng.assign(cid, "cm-cy", team="south", reason="moved south", **SUPERVISOR)
    assert again.operation == "reassign"
    assert again.previous_team == "north"
    gone = eng.assign(cid, None, reason="leave", **SUPERVISOR)
    assert gone.operation == "unassign"
    assert gone.team == "south"
    rows = [h for h in eng.history(cid) if h.event == "@assign"]
    assert [h.actor for h in rows] == ["sup-1"] * 3
    assert [h.payload["assignee"] for h in rows] == ["cm-ana", "cm-cy", None]
    assert rows[1].payload["reason"] == "moved south"
    assert rows[1].payload["previous_assignee"] == "cm-ana"
    assert all(h.outcome == "assigned" for h in rows)
    report = eng.verify_audit(cid)
    assert report.ok, report


def test_the_same_assignment_twice_writes_one_row(eng: Engine) -> None:
    cid = open_case(eng, 1)
    eng.assign(cid, "cm-ana", reason="r", **SUPERVISOR)
    second = eng.assign(cid, "cm-ana", reason="r", **SUPERVISOR)
    assert not second.changed
    assert len([h for h in eng.history(cid) if h.event == "@assign"]) == 1


@pytest.mark.parametrize(
    ("assignee", "team", "reason", "allowed"),
    [
        ("cm-zed", None, "unknown-person", ()),
        ("cm-dee", None, "inactive-person", ()),
        ("cm-ana", "east", "team-not-allowed", ("north", "south")),
        ("cm-ana", "south", "team-not-allowed", ("north",)),
    ],
)
def test_bad_assignments_are_rejected_naming_what_is_allowed(
    eng: Engine, assignee: str, team: str | None, reason: str, allowed: tuple[str, ...]
) -> None:
    cid = open_case(eng, 1)
    with pytest.raises(AssignmentRejected) as exc:
        eng.assign(cid, assignee, team=team, reason="r", **SUPERVISOR)
    assert exc.value.reason == reason
    assert exc.value.allowed == allowed
    assert exc.value.case_id == cid
    assert "P-0001" not in str(exc.value)  # ids only, never case data
    assert [h.event for h in eng.history(cid)] == ["@open"]


def test_only_the_assign_roles_may_assign(eng: Engine) -> None:
    cid = open_case(eng, 1)
    with pytest.raises(AssignDenied) as exc:
        eng.assign(cid, "cm-ana", reason="r", **CM)
    assert exc.value.allowed_roles == ("supervisor",)


def test_expected_version_and_idempotency_keys(eng: Engine) -> None:
    cid = open_case(eng, 1)
    with pytest.raises(ConcurrencyConflict):
        eng.assign(cid, "cm-ana", reason="r", expected_version=5, **SUPERVISOR)
    a = eng.assign(cid, "cm-ana", reason="r", idempotency_key="k1", **SUPERVISOR)
    eng.assign(cid, "cm-ben", reason="r", **SUPERVISOR)
    replayed = eng.assign(cid, "cm-ana", reason="r", idempotency_key="k1", **SUPERVISOR)
    assert replayed == a  # replayed, not applied again: Ben keeps the case
    assert eng.caseloads()[0].holder == "cm-ben"
    with pytest.raises(IdempotencyKeyReused):
        eng.assign(cid, "cm-cy", reason="r", idempotency_key="k1", **SUPERVISOR)


def test_a_state_that_requires_an_assignee_rejects_events_until_assigned(eng: Engine) -> None:
    cid = open_case(eng, 1)
    with pytest.raises(EventRejected) as exc:
        eng.send(cid, "contacted", **CM)
    assert exc.value.reason == "assignee_missing"
    assert "assessing" in exc.value.detail
    options = {o.event: o for o in eng.allowed_events(cid, ["case_manager"])}
    assert not options["contacted"].allowed
    assert options["contacted"].reason == "assignee_missing"
    assert options["escalate_risk"].allowed  # stays in the state: no assignee needed
    eng.assign(cid, "cm-ana", reason="r", **SUPERVISOR)
    assert {o.event for o in eng.allowed_events(cid, ["case_manager"]) if o.allowed} == {
        "contacted",
        "escalate_risk",
    }
    assert eng.send(cid, "contacted", **CM).state == "assessing"


def test_caseloads_are_weighted_against_the_target_and_follow_closure(eng: Engine) -> None:
    ids = [open_case(eng, n, "high" if n < 2 else "low") for n in range(4)]
    for cid in ids:
        eng.assign(cid, "cm-ana", reason="r", **SUPERVISOR)
    eng.assign(open_case(eng, 9), "cm-cy", reason="r", **SUPERVISOR)
    ana, cy = eng.caseloads()
    assert (ana.holder, ana.cases, ana.weighted, ana.load, ana.over_target) == (
        "cm-ana",
        4,
        6.0,
        1.5,
        True,
    )
    assert (cy.holder, cy.cases, cy.load, cy.over_target) == ("cm-cy", 1, 0.25, False)
    eng.send(ids[0], "withdraw", **CLERK)  # closes: leaves the caseload
    eng.send(ids[2], "escalate_risk", **CLERK)  # low -> high: weight 1 -> 2
    ana = eng.caseloads(holders=["cm-ana"])[0]
    assert (ana.cases, ana.weighted) == (3, 5.0)
    teams = {c.holder: c.cases for c in eng.caseloads(by="team")}
    assert teams == {"north": 3, "south": 1}


def test_bulk_reassignment_dry_run_then_moves_and_retry_changes_nothing(eng: Engine) -> None:
    ids = [open_case(eng, n) for n in range(5)]
    for cid in ids:
        eng.assign(cid, "cm-ana", reason="r", **SUPERVISOR)
    closed = open_case(eng, 7)
    eng.assign(closed, "cm-ana", reason="r", **SUPERVISOR)
    eng.send(closed, "withdraw", **CLERK)
    seen: list[tuple[int, int]] = []
    plan = eng.bulk_reassign(
        from_assignee="cm-ana",
        to=["cm-ben", "cm-cy"],
        reason="Ana leaves",
        dry_run=True,
        progress=lambda n, total, _: seen.append((n, total)),
        **SUPERVISOR,
    )
    assert plan.counts == {"planned": 5}
    assert seen == [(n, 5) for n in range(1, 6)]
    assert eng.caseloads()[0].holder == "cm-ana"  # nothing moved
    bulk = {"to": ["cm-ben", "cm-cy"], "reason": "Ana leaves", **SUPERVISOR}
    done = eng.bulk_reassign(case_ids=[*ids, closed, "no-such-case"], key="move-ana", **bulk)
    assert done.counts == {"reassigned": 5, "rejected": 2}
    rejected = {r.case_id: r.error for r in done.results if r.outcome == "rejected"}
    assert rejected == {closed: "assignment-rejected", "no-such-case": "case-not-found"}
    loads = {c.holder: c.cases for c in eng.caseloads()}
    assert loads == {"cm-ben": 3, "cm-cy": 2}  # balanced by load
    again = eng.bulk_reassign(case_ids=[*ids, closed], key="move-ana", **bulk)
    assert again.counts == {"unchanged": 5, "rejected": 1}
    assert {c.holder: c.cases for c in eng.caseloads()} == loads
    rows = sum(1 for cid in ids for h in eng.history(cid) if h.event == "@assign")
    assert rows == 10  # one assign and one transfer each, never two transfers
    assert {h.payload["operation"] for h in eng.history(ids[0]) if h.event == "@assign"} == {
        "assign",
        "transfer",
    }


def test_bulk_reassignment_reports_cases_the_caller_may_not_assign(eng: Engine) -> None:
    cid = open_case(eng, 1)
    out = eng.bulk_reassign(case_ids=[cid], to=["cm-ben"], reason="r", **CM)
    assert [(r.outcome, r.error) for r in out.results] == [("rejected", "assign-denied")]


def test_worklist_lists_an_assignees_deadlines_overdue_first(eng: Engine) -> None:
    clock = eng.clock
    assert isinstance(clock, ManualClock)
    a1 = open_case(eng, 1)
    clock.advance(timedelta(days=1))
    a2 = open_case(eng, 2)
    other = open_case(eng, 3)
    for cid in (a1, a2):
        eng.assign(cid, "cm-ana", reason="r", **SUPERVISOR)
    eng.assign(other, "cm-cy", reason="r", **SUPERVISOR)
    clock.advance(timedelta(days=1, hours=12))  # a1's first contact is overdue, a2's not
    page = eng.worklist(assignee="cm-ana")
    assert [(e.case_id, e.name, e.overdue) for e in page.items] == [
        (a1, "first_contact", True),
        (a2, "first_contact", False),
    ]
    assert page.items[0].may_send == ("contacted", "escalate_risk")  # Ana's directory roles
    assert [e.case_id for e in eng.worklist(assignee="cm-ana", overdue=True).items] == [a1]
    soon = eng.worklist(assignee="cm-ana", due_within=timedelta(hours=1))
    assert [e.case_id for e in soon.items] == [a1]
    first = eng.worklist(assignee="cm-ana", limit=1)
    assert first.next_cursor is not None
    rest = eng.worklist(assignee="cm-ana", limit=1, cursor=first.next_cursor)
    assert [e.case_id for e in rest.items] == [a2]
    assert [e.case_id for e in eng.worklist(team="south").items] == [other]
    by_role = eng.worklist(role="case_manager")
    assert {e.case_id for e in by_role.items} == {a1, a2, other}
    assert by_role.items[0].may_send == ("contacted", "escalate_risk")
    with pytest.raises(ValueError, match="another listing"):
        eng.worklist(assignee="cm-ana", cursor="WyJ4Il0")


def test_ownership_stats_count_overdue_and_time_to_first_assignment(eng: Engine) -> None:
    clock = eng.clock
    assert isinstance(clock, ManualClock)
    cid = open_case(eng, 1)
    clock.advance(timedelta(hours=3))
    eng.assign(cid, "cm-ana", reason="r", **SUPERVISOR)
    clock.advance(timedelta(days=3))
    stats = eng.ownership_stats()
    assert stats["assigned_open"] == 1
    assert stats["first_assigned"] == 1
    assert stats["first_assignment_seconds"] == pytest.approx(3 * 3600, abs=1)
    assert stats["overdue_by_assignee"] == {"cm-ana": 1}
    assert stats["overdue_by_team"] == {"north": 1}


def test_staff_import_makes_the_file_the_truth_for_its_entries(eng: Engine) -> None:
    counts = eng.import_staff(
        [{"id": "cm-eve", "teams": ["south"]}, {"id": "cm-fay", "teams": ["north"]}], actor="hr"
    )
    assert counts == {"written": 2, "deactivated": 0}
    counts = eng.import_staff([{"id": "cm-eve", "teams": ["south"]}], actor="hr")
    assert counts == {"written": 1, "deactivated": 1}
    fay = eng.staff("cm-fay")
    assert fay is not None
    assert not fay.active
    assert fay.source == "file"
    ana = eng.staff("cm-ana")
    assert ana is not None
    assert ana.active
    with pytest.raises(EngineError, match=r"staff\[1\]\.teams"):
        eng.import_staff([{"id": "x1"}, {"id": "x2", "teams": "north"}], actor="hr")
