"""Reading a case with many work items: a bounded number of statements, and the
decoded rows shared between transactions never show a change that was not committed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
import sqlalchemy as sa
from items_support import CM, PATIENT, PROVIDER, itemcase_definition, open_engine, referral_type

from engine.clock import ManualClock
from engine.errors import EventRejected
from engine.runtime.engine import Engine

FOOD = {"provider": "Food Bank", "service": "food"}


@pytest.fixture
def eng(database_url: str) -> Iterator[Engine]:
    e = open_engine(database_url, ManualClock(), max_items=60)
    try:
        yield e
    finally:
        e.close()


def _case(eng: Engine, items: int) -> str:
    cid = eng.open_case("itemcase", PATIENT, **CM).id
    for n in range(items):
        eng.add_item(cid, "referral", FOOD, item_id=f"ref-{n}", **CM)
    return cid


def _statements(eng: Engine, call: Callable[[], object]) -> int:
    db = eng._context.store.db  # type: ignore[attr-defined]
    seen: list[str] = []

    def count(*args: object) -> None:
        seen.append(str(args[2]))

    sa.event.listen(db, "before_cursor_execute", count)
    try:
        call()
    finally:
        sa.event.remove(db, "before_cursor_execute", count)
    return len(seen)


def test_get_and_an_item_event_issue_as_many_statements_with_40_items_as_with_2(
    eng: Engine,
) -> None:
    few, many = _case(eng, 2), _case(eng, 40)
    assert _statements(eng, lambda: eng.get(few)) == _statements(eng, lambda: eng.get(many))
    chase_few = _statements(eng, lambda: eng.send_item(few, "ref-1", "chase", **CM))
    assert chase_few == _statements(eng, lambda: eng.send_item(many, "ref-1", "chase", **CM))
    assert len(eng.get(many).items) == 40


def test_every_committed_change_is_read_and_a_rolled_back_one_is_not(
    eng: Engine, database_url: str
) -> None:
    cid = _case(eng, 3)
    assert [i.data["attempts"] for i in eng.get(cid).items] == [0, 0, 0]
    store = eng._context.store

    def change_then_fail() -> None:
        with store.write() as tx:
            before = tx.get_item(cid, "ref-1")
            assert before is not None
            tx.update_item(before, replace(before, data={**FOOD, "attempts": 9}, version=2))
            assert [i.data["attempts"] for i in tx.items_of(cid)] == [0, 9, 0]
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        change_then_fail()
    assert [(i.data["attempts"], i.version) for i in eng.get(cid).items] == [(0, 1)] * 3
    eng.send_item(cid, "ref-1", "chase", **CM)  # version 2 again, committed this time
    assert [i.data["attempts"] for i in eng.get(cid).items] == [0, 1, 0]
    other = open_engine(database_url, ManualClock(), max_items=60)
    try:  # another engine (process) on the same database: its change is read here
        other.send_item(cid, "ref-1", "chase", **CM)
        other.send_item(cid, "ref-2", "accepted", **PROVIDER)
    finally:
        other.close()
    view = eng.get(cid)
    assert [(i.id, i.state, i.data["attempts"]) for i in view.items] == [
        ("ref-0", "sent", 0),
        ("ref-1", "sent", 2),
        ("ref-2", "accepted", 0),
    ]


def test_an_item_guard_naming_items_still_sees_every_item(database_url: str) -> None:
    base = referral_type(max_items=10)
    transitions = tuple(
        replace(t, guard="size(items.referral) < 3") if t.event == "chase" else t
        for t in base.transitions
    )
    definition = itemcase_definition(10)
    definition = replace(
        definition, item_types={"referral": replace(base, transitions=transitions)}
    )
    eng = Engine._from_definitions(database_url, [definition], clock=ManualClock())
    try:
        cid = _case(eng, 2)
        eng.send_item(cid, "ref-0", "chase", **CM)
        eng.add_item(cid, "referral", FOOD, item_id="ref-2", **CM)
        with pytest.raises(EventRejected) as err:
            eng.send_item(cid, "ref-0", "chase", **CM)
        assert "size(items.referral) < 3" in str(err.value)
    finally:
        eng.close()
