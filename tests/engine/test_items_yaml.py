"""The bundled items language end to end: tests/fixtures/valid/items_demo.yaml walked on the
runtime (referrals settling the case, an appointment reminder due the day before its date)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.clock import ManualClock
from engine.errors import EventRejected
from engine.runtime.engine import Engine

DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "valid" / "items_demo.yaml"
CM = {"actor": "cm-17", "roles": ["case_manager"]}
PROVIDER = {"actor": "prov-1", "roles": ["provider"]}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 2, 15, tzinfo=UTC))


@pytest.fixture
def eng(database_url: str, clock: ManualClock) -> Iterator[Engine]:
    e = Engine.open(database_url, workflows=[DEMO], clock=clock)
    try:
        yield e
    finally:
        e.close()


def _linking(eng: Engine) -> str:
    cid = eng.open_case("items_demo", {"patient_id": "P-0001"}, **CM).id
    eng.send(cid, "accept", **CM)
    eng.send(cid, "assessed", **CM)
    return cid


def test_referrals_move_the_case_through_case_events_and_item_guards(eng: Engine) -> None:
    cid = _linking(eng)
    view = eng.add_item(
        cid,
        "referral",
        {"provider": "Housing First", "service": "housing_assistance"},
        item_id="ref-housing",
        **CM,
    )
    assert view.state == "referrals_pending"  # create's case_event referral_added
    view = eng.add_item(cid, "referral", {"provider": "Food", "service": "food_support"}, **CM)
    assert view.state == "referrals_pending"
    assert [i.id for i in view.items] == ["ref-housing", "referral-2"]
    view = eng.send_item(cid, "ref-housing", "accepted", **PROVIDER)
    assert view.state == "referrals_pending"  # referral-2 still open: no guard holds
    view = eng.send_item(cid, "referral-2", "declined", **PROVIDER)
    assert view.state == "monitoring"
    assert view.record["linked"] is True
    assert eng.verify_audit().ok


def test_appointment_reminder_fires_the_day_before_its_date(
    eng: Engine, clock: ManualClock
) -> None:
    cid = _linking(eng)
    eng.add_item(cid, "referral", {"provider": "H", "service": "housing_assistance"}, **CM)
    eng.send_item(cid, "referral-1", "accepted", **PROVIDER)
    view = eng.add_item(
        cid, "appointment", {"date": "2026-03-10", "provider": "H", "service": "intake"}, **CM
    )
    (reminder,) = view.item("appointment-1").timers  # type: ignore[union-attr]
    # local midnight of 2026-03-09 in America/Chicago (CDT from 03-08): 05:00 UTC
    assert reminder.due_at == datetime(2026, 3, 9, 5, tzinfo=UTC)
    with pytest.raises(EventRejected):  # a scheduled appointment keeps the case open
        eng.send(cid, "close", **CM)
    clock.advance(timedelta(days=7))
    assert eng.fire_due_timers() == 1
    assert [o.action for o in eng.outbox(limit=50).items][-1] == "remind_appointment"
    eng.send_item(cid, "appointment-1", "attended", **CM)
    assert eng.send(cid, "close", **CM).state == "closed"
