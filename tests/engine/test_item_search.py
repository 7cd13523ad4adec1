"""Work items across cases (Engine.find_items) and the case search by item, on both stores."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from item_reads_support import CM, FOOD, HOUSING, PROVIDER, linking_case, open_demo

from engine import Engine, ItemQuery
from engine.clock import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def eng(database_url: str, clock: ManualClock) -> Iterator[Engine]:
    with open_demo(database_url, clock) as engine:
        yield engine


def _ids(page) -> list[tuple[str, str]]:
    return [(m.case_id, m.item.id) for m in page.items]


def test_find_items_filters_by_type_state_and_open_across_cases(
    eng: Engine, clock: ManualClock
) -> None:
    a, b = linking_case(eng, "P-0001"), linking_case(eng, "P-0002")
    for cid, data in ((a, HOUSING), (b, FOOD), (a, FOOD)):  # oldest opened first
        eng.add_item(cid, "referral", data, **CM)
        clock.advance(timedelta(minutes=1))
    eng.send_item(b, "referral-1", "accepted", **PROVIDER)
    eng.send_item(a, "referral-2", "waitlisted", **PROVIDER)

    every = eng.find_items(with_total=True)
    assert _ids(every) == [(a, "referral-1"), (b, "referral-1"), (a, "referral-2")]
    assert every.total == 3
    assert every.next_cursor is None
    first = every.items[0]
    assert first.workflow == "items_demo"
    assert first.item.state == "sent"
    assert first.item.data["provider"] == "Housing First"
    assert {t.name for t in first.item.timers} == {"no_answer", "answer_due"}
    assert _ids(eng.find_items(ItemQuery(item_type="referral", state="sent"))) == [
        (a, "referral-1")
    ]
    assert _ids(eng.find_items(ItemQuery(open=False))) == [(b, "referral-1")]
    assert _ids(eng.find_items(ItemQuery(open=True, state="waitlisted"))) == [(a, "referral-2")]
    assert eng.find_items(ItemQuery(item_type="appointment"), with_total=True).total == 0
    assert eng.find_items(ItemQuery(workflow="no such"), with_total=True).total == 0
    assert eng.find_items(ItemQuery(state="not an identifier!"), with_total=True).total == 0


def test_find_items_pages_cover_every_item_once(eng: Engine) -> None:
    cases = [linking_case(eng, f"P-{n:04d}") for n in range(3)]
    for cid in cases:
        for _ in range(3):
            eng.add_item(cid, "referral", HOUSING, **CM)
    seen: list[tuple[str, str]] = []
    cursor = None
    while True:
        page = eng.find_items(ItemQuery(item_type="referral"), limit=4, cursor=cursor)
        seen += _ids(page)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == 9 == len(set(seen))
    with pytest.raises(ValueError):
        eng.find_items(cursor="bm90IGEgY3Vyc29y")
    with pytest.raises(ValueError):
        eng.find_items(limit=0)


def test_overdue_items_and_cases_with_an_overdue_item(eng: Engine, clock: ManualClock) -> None:
    late, fresh = linking_case(eng, "P-0001"), linking_case(eng, "P-0002")
    eng.add_item(late, "referral", HOUSING, **CM)
    clock.advance(timedelta(days=10))
    eng.add_item(fresh, "referral", FOOD, **CM)
    clock.advance(timedelta(days=5))  # the first referral's follow-up (14 days) is past due
    page = eng.find_items(ItemQuery(overdue=True), with_total=True)
    assert _ids(page) == [(late, "referral-1")]
    assert page.total == 1
    assert page.items[0].overdue
    assert _ids(eng.find_items(ItemQuery(overdue=False))) == [(fresh, "referral-1")]
    assert not eng.find_items(ItemQuery(overdue=False)).items[0].overdue
    assert [c.id for c in eng.find(item_overdue=True).items] == [late]
    assert [c.id for c in eng.find(item_overdue=False).items] == [fresh]
    assert [c.id for c in eng.find(item_type="referral", item_overdue=True).items] == [late]
    assert eng.find(item_type="appointment", item_overdue=True, with_total=True).total == 0
    eng.fire_due_timers()  # the follow-up fired (an internal transition): no longer late
    assert eng.find_items(ItemQuery(overdue=True), with_total=True).total == 0


def test_case_search_by_item_type_and_state(eng: Engine, clock: ManualClock) -> None:
    a, b, none = (linking_case(eng, f"P-{n:04d}") for n in range(3))
    a, b = sorted((a, b))  # opened at the same instant: by id
    eng.add_item(a, "referral", HOUSING, **CM)
    eng.add_item(b, "referral", FOOD, **CM)
    eng.send_item(b, "referral-1", "declined", **PROVIDER)
    assert [c.id for c in eng.find(item_type="referral").items] == [a, b]
    assert [c.id for c in eng.find(item_type="referral", item_state="sent").items] == [a]
    assert [c.id for c in eng.find(item_state="declined").items] == [b]
    page = eng.find(item_type="referral", with_total=True, sort="due")
    assert page.total == 2
    assert none not in [c.id for c in page.items]
    assert eng.find(item_type="bad type!", with_total=True).total == 0
