"""Work items move with their case to a new workflow version (plan ``items:``), both backends.

Fixtures: tests/fixtures/migration/items/ (tracker v1 -> v2: referrals sent or waitlisted
become pending, tasks become todos, contacts are gone in v2).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine import Engine, ManualClock
from engine.errors import DefinitionError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "migration" / "items"
V1, V2, PLANS = FIXTURES / "v1", FIXTURES / "v2", FIXTURES / "plans"
START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
WORKER = {"actor": "w-1", "roles": ["worker"]}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@contextmanager
def _engine(url: str, clock: ManualClock, *dirs: Path) -> Iterator[Engine]:
    eng = Engine.open(url, workflows=list(dirs), clock=clock)
    try:
        yield eng
    finally:
        eng.close()


def _v1_case(url: str, clock: ManualClock, *items: tuple[str, dict[str, str]]) -> str:
    with _engine(url, clock, V1) as eng:
        case_id = eng.open_case("tracker", {"patient_id": "P-1"}, **WORKER).id
        for item_type, data in items:
            eng.add_item(case_id, item_type, data, **WORKER)
        return case_id


def _timers(eng: Engine, case_id: str, item_id: str) -> dict[tuple[str, str], datetime | None]:
    return {(t.name, t.scope): t.due_at for t in eng.item(case_id, item_id).timers}


def test_items_take_their_v2_type_and_state_and_their_timers_follow_the_plan(
    database_url: str, clock: ManualClock
) -> None:
    case_id = _v1_case(
        database_url,
        clock,
        ("referral", {"provider": "a", "service": "food"}),
        ("referral", {"provider": "b"}),
        ("task", {"what": "call"}),
    )
    with _engine(database_url, clock, V1) as eng:
        eng.send_item(case_id, "referral-2", "waitlist", **WORKER)
    clock.advance(timedelta(days=2))
    with _engine(database_url, clock, V1, V2) as eng:
        plan = eng.migration_plan(PLANS / "items.yaml")
        dry = eng.migrate(plan, actor="migrator", dry_run=True)
        assert dry.states["intake"].items == {
            "referral.sent -> referral.pending": 1,
            "referral.waitlisted -> referral.pending": 1,
            "task.open -> todo.open": 1,
        }
        assert eng.item(case_id, "task-1").type == "task"  # a dry run writes nothing

        rep = eng.migrate(plan, actor="migrator")

        assert (rep.moved, rep.refused) == (1, [])
        items = {i.id: (i.type, i.state, dict(i.data)) for i in eng.items(case_id)}
        assert items == {
            "referral-1": ("referral", "pending", {"provider": "a", "service": "food"}),
            "referral-2": ("referral", "pending", {"provider": "b"}),
            "task-1": ("todo", "open", {"what": "call"}),
        }
        # chase recomputed from its arming (7 days in v2), the answer deadline kept where it
        # was, v2's new reminder armed from the state's entry
        assert _timers(eng, case_id, "referral-1") == {
            ("chase", "item"): START + timedelta(days=7),
            ("remind", "item"): START + timedelta(days=3),
            ("answer_due", "item_clock"): START + timedelta(days=10),
        }
        # referral-2 had left `sent` (no chase): v2's pending state arms it from its entry
        assert _timers(eng, case_id, "referral-2") == {
            ("chase", "item"): START + timedelta(days=7),
            ("remind", "item"): START + timedelta(days=3),
            ("answer_due", "item_clock"): START + timedelta(days=10),
        }
        row = eng.history(case_id)[-1]
        assert row.event == "@migrate"
        assert row.payload["items"] == {
            "referral-1": "referral.pending",
            "referral-2": "referral.pending",
            "task-1": "todo.open",
        }
        assert eng.verify_audit().ok
        # the items live on under v2's rules
        assert eng.send_item(case_id, "referral-1", "accept", **WORKER).item("referral-1")
        assert eng.item(case_id, "referral-1").closed
        eng.send_item(case_id, "task-1", "done", **WORKER)
        assert eng.item(case_id, "task-1").state == "done"
        clock.advance(timedelta(days=11))
        eng.fire_due_timers()
        assert eng.item(case_id, "referral-2").state == "lapsed"


def test_a_case_holding_an_item_of_a_type_v2_lacks_cannot_move(
    database_url: str, clock: ManualClock
) -> None:
    moving = _v1_case(database_url, clock, ("task", {"what": "x"}))
    stuck = _v1_case(database_url, clock, ("contact", {"what": "weekly call"}))
    with _engine(database_url, clock, V1, V2) as eng:
        before = eng.get(stuck)
        rep = eng.migrate(eng.migration_plan(PLANS / "items.yaml"), actor="migrator")
        assert rep.moved == 1
        (refused,) = rep.refused
        assert (refused.case_id, refused.state) == (stuck, "intake")
        assert "item contact-1" in refused.reason
        assert "'contact'" in refused.reason
        assert "weekly call" not in refused.reason  # never the data
        assert eng.get(stuck) == before
        assert eng.item(stuck, "contact-1").type == "contact"
        assert eng.get(moving).workflow_version == 2


def test_item_data_the_v2_schema_refuses_keeps_the_case_on_v1_with_the_path(
    database_url: str, clock: ManualClock
) -> None:
    case_id = _v1_case(
        database_url, clock, ("referral", {"provider": "a", "service": "counselling"})
    )
    with _engine(database_url, clock, V1, V2) as eng:
        rep = eng.migrate(eng.migration_plan(PLANS / "items.yaml"), actor="migrator")
        (refused,) = rep.refused
        assert "item referral-1" in refused.reason
        assert "$.service" in refused.reason
        assert "counselling" not in refused.reason
        assert eng.get(case_id).workflow_version == 1
        assert eng.item(case_id, "referral-1").state == "sent"
        assert {t.name for t in eng.item(case_id, "referral-1").timers} == {"chase", "answer_due"}


def test_item_mistakes_in_a_plan_are_reported_with_their_location(
    database_url: str, clock: ManualClock
) -> None:
    with _engine(database_url, clock, V1, V2) as eng, pytest.raises(DefinitionError) as err:
        eng.migration_plan(PLANS / "bad.yaml")
    found = {(d.line, d.json_path, d.code) for d in err.value.diagnostics}
    assert found == {
        (6, "$.items.referal", "plan-unknown-item-type"),
        (7, "$.items.task.to", "plan-unknown-item-type"),
        (10, "$.items.referral.states.sent", "plan-unknown-item-state"),
        (10, "$.items.referral.states.queued", "plan-unknown-item-state"),
        (10, "$.items.referral.states.accepted", "plan-final-state"),
    }
    assert all(d.file.endswith("bad.yaml") for d in err.value.diagnostics)
