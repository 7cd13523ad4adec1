"""Work items at runtime: add, send, close; every refusal changes nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from items_support import CM, PATIENT, PROVIDER, open_engine

from engine.clock import ManualClock
from engine.errors import (
    CaseNotFound,
    ConcurrencyConflict,
    EventRejected,
    IdempotencyKeyReused,
    ItemIdTaken,
    ItemNotFound,
    PayloadInvalid,
)
from engine.runtime.engine import Engine

HOUSING = {"provider": "Housing First", "service": "housing"}
FOOD = {"provider": "Food Bank", "service": "food"}


@pytest.fixture
def eng(database_url: str) -> Iterator[Engine]:
    e = open_engine(database_url, ManualClock())
    try:
        yield e
    finally:
        e.close()


def _case(eng: Engine) -> str:
    return eng.open_case("itemcase", PATIENT, **CM).id


def _snapshot(eng: Engine, case_id: str) -> tuple[object, ...]:
    return (eng.get(case_id), len(eng.history(case_id)), len(eng.outbox(limit=500).items))


def test_add_item_creates_it_in_its_initial_state_with_the_data(eng: Engine) -> None:
    cid = _case(eng)
    view = eng.add_item(cid, "referral", HOUSING, item_id="ref-housing", **CM)
    (item,) = view.items
    assert (item.id, item.type, item.state, item.closed, item.version) == (
        "ref-housing",
        "referral",
        "sent",
        False,
        1,
    )
    assert dict(item.data) == {**HOUSING, "attempts": 0}  # `set` of the create rule
    assert {t.name for t in item.timers} == {"no_answer", "decision_due"}
    assert {t.scope for t in item.timers} == {"item", "item_clock"}
    assert view.pending_timers == ()  # item timers are the item's, not the case's
    # the create rule's case_event ran on the case in the same transaction
    assert view.record["referrals_added"] == 1
    assert view.version == 3
    rows = eng.history(cid)
    assert [(h.event, h.item_id, h.item_from, h.item_to) for h in rows[1:]] == [
        ("@create", "ref-housing", None, "sent"),
        ("referral_added", None, None, None),
    ]
    assert rows[1].outcome == "item_created"
    assert (rows[1].from_state, rows[1].to_state) == ("linking", "linking")
    actions = [o.action for o in eng.outbox(limit=50).items]
    assert actions == ["send_referral", "notify_provider"]


def test_default_item_ids_count_per_type_and_skip_taken_ones(eng: Engine) -> None:
    cid = _case(eng)
    eng.add_item(cid, "referral", HOUSING, item_id="referral-2", **CM)
    eng.add_item(cid, "referral", FOOD, **CM)
    view = eng.add_item(cid, "referral", FOOD, **CM)
    assert [i.id for i in view.items] == ["referral-2", "referral-3", "referral-4"]


def test_send_item_closes_it_and_its_case_event_moves_the_case(eng: Engine) -> None:
    cid = _case(eng)
    eng.add_item(cid, "referral", HOUSING, **CM)
    eng.add_item(cid, "referral", FOOD, **CM)
    view = eng.send_item(cid, "referral-1", "accepted", **PROVIDER)
    assert view.state == "linking"  # the case guard: every referral settled; one is open
    assert view.item("referral-1") is not None
    first = view.item("referral-1")
    assert first is not None
    assert first.closed
    assert first.state == "accepted"
    assert first.timers == ()  # a closed item's timers are cancelled
    view = eng.send_item(cid, "referral-2", "declined", {"reason": "full"}, **PROVIDER)
    assert view.state == "monitoring"
    second = view.item("referral-2")
    assert second is not None
    assert second.data["reason"] == "full"
    last = eng.history(cid)[-2:]
    assert [(h.event, h.item_id, h.from_state, h.to_state) for h in last] == [
        ("declined", "referral-2", "linking", "linking"),
        ("all_settled", None, "linking", "monitoring"),
    ]
    assert last[1].actor == PROVIDER["actor"]
    assert eng.verify_audit().ok


def test_internal_item_transition_with_guard_and_set(eng: Engine) -> None:
    cid = _case(eng)
    eng.add_item(cid, "referral", HOUSING, **CM)
    eng.send_item(cid, "referral-1", "chase", **CM)
    view = eng.send_item(cid, "referral-1", "chase", **CM)
    item = view.item("referral-1")
    assert item is not None
    assert item.data["attempts"] == 2
    assert item.state == "sent"
    with pytest.raises(EventRejected) as err:
        eng.send_item(cid, "referral-1", "chase", **CM)
    assert err.value.reason == "guard_false"
    assert err.value.item_id == "referral-1"


def test_items_lists_by_type_and_state(eng: Engine) -> None:
    cid = _case(eng)
    eng.add_item(cid, "referral", HOUSING, **CM)
    eng.add_item(cid, "referral", FOOD, **CM)
    eng.send_item(cid, "referral-2", "waitlist", **PROVIDER)
    assert [i.id for i in eng.items(cid)] == ["referral-1", "referral-2"]
    assert [i.id for i in eng.items(cid, state="waitlisted")] == ["referral-2"]
    assert eng.items(cid, item_type="goal") == []
    assert eng.item(cid, "referral-2").state == "waitlisted"
    with pytest.raises(ItemNotFound):
        eng.item(cid, "nope")
    with pytest.raises(CaseNotFound):
        eng.items("00000000-0000-0000-0000-000000000000")


def test_allowed_item_events_say_what_is_allowed_and_why_not(eng: Engine) -> None:
    cid = _case(eng)
    eng.add_item(cid, "referral", HOUSING, **CM)
    options = {o.event: o for o in eng.allowed_item_events(cid, "referral-1", ["provider"])}
    assert options["accepted"].allowed
    assert options["waitlist"].allowed
    assert not options["chase"].allowed
    assert options["chase"].reason == "role_missing"
    assert not options["no_answer"].allowed  # only the engine sends it
    mine = {o.event: o for o in eng.allowed_item_events(cid, "referral-1", ["case_manager"])}
    assert mine["chase"].allowed
    eng.send_item(cid, "referral-1", "accepted", **PROVIDER)
    closed = eng.allowed_item_events(cid, "referral-1", ["provider"])
    assert all(not o.allowed and o.reason == "item_closed" for o in closed)


# -- refusals ------------------------------------------------------------------------------


def test_unknown_item_is_item_not_found(eng: Engine) -> None:
    cid = _case(eng)
    before = _snapshot(eng, cid)
    with pytest.raises(ItemNotFound) as err:
        eng.send_item(cid, "referral-9", "accepted", **PROVIDER)
    assert (err.value.case_id, err.value.item_id) == (cid, "referral-9")
    assert _snapshot(eng, cid) == before


def test_event_in_the_wrong_item_state_names_item_state_and_allowed_events(eng: Engine) -> None:
    cid = _case(eng)
    eng.add_item(cid, "referral", HOUSING, **CM)
    eng.send_item(cid, "referral-1", "waitlist", **PROVIDER)
    before = _snapshot(eng, cid)
    with pytest.raises(EventRejected) as err:
        eng.send_item(cid, "referral-1", "declined", {"reason": "full"}, **PROVIDER)
    e = err.value
    assert (e.item_id, e.state, e.event, e.reason, e.case_state) == (
        "referral-1",
        "waitlisted",
        "declined",
        "wrong_state",
        "linking",
    )
    assert e.allowed_events == ("accepted",)
    assert "referral-1" in str(e)
    assert "waitlisted" in str(e)
    assert e.to_dict()["item_id"] == "referral-1"
    assert _snapshot(eng, cid) == before


def test_item_role_missing(eng: Engine) -> None:
    cid = _case(eng)
    eng.add_item(cid, "referral", HOUSING, **CM)
    with pytest.raises(EventRejected) as err:
        eng.send_item(cid, "referral-1", "accepted", **CM)
    assert err.value.reason == "role_missing"
    assert "provider" in err.value.detail


def test_data_breaking_the_item_schema_names_the_json_path(eng: Engine) -> None:
    cid = _case(eng)
    before = _snapshot(eng, cid)
    with pytest.raises(PayloadInvalid) as err:
        eng.add_item(cid, "referral", {"provider": "X", "service": "spa"}, **CM)
    assert err.value.json_path == "$.service"
    with pytest.raises(PayloadInvalid) as missing:
        eng.add_item(cid, "referral", {"service": "food"}, **CM)
    assert missing.value.json_path == "$.provider"
    assert "spa" not in str(err.value)  # no data in messages
    eng.add_item(cid, "referral", HOUSING, **CM)
    with pytest.raises(PayloadInvalid) as payload:
        eng.send_item(cid, "referral-1", "declined", {"reason": "bored"}, **PROVIDER)
    assert payload.value.json_path == "$.reason"
    assert len(eng.history(cid)) == before[1] + 2


def test_unknown_item_type_lists_the_declared_types(eng: Engine) -> None:
    cid = _case(eng)
    with pytest.raises(EventRejected) as err:
        eng.add_item(cid, "goal", {}, **CM)
    assert err.value.reason == "unknown_item_type"
    assert "referral" in err.value.detail
    assert err.value.event == "@create"


def test_case_state_not_allowed_names_the_allowed_states(eng: Engine) -> None:
    cid = _case(eng)
    eng.add_item(cid, "referral", HOUSING, **CM)
    eng.send_item(cid, "referral-1", "accepted", **PROVIDER)  # the case moves to monitoring
    before = _snapshot(eng, cid)
    with pytest.raises(EventRejected) as err:
        eng.add_item(cid, "referral", FOOD, **CM)
    assert err.value.reason == "case_state"
    assert err.value.state == "monitoring"
    assert "linking" in err.value.detail
    assert _snapshot(eng, cid) == before


def test_too_many_items_names_the_max(eng: Engine) -> None:
    cid = _case(eng)
    for _ in range(3):
        eng.add_item(cid, "referral", FOOD, **CM)
    before = _snapshot(eng, cid)
    with pytest.raises(EventRejected) as err:
        eng.add_item(cid, "referral", FOOD, **CM)
    assert err.value.reason == "item_limit"
    assert "max 3" in err.value.detail
    assert _snapshot(eng, cid) == before


def test_closed_item_refuses_every_event(eng: Engine) -> None:
    cid = _case(eng)
    eng.add_item(cid, "referral", HOUSING, **CM)
    eng.add_item(cid, "referral", FOOD, **CM)
    eng.send_item(cid, "referral-1", "accepted", **PROVIDER)
    with pytest.raises(EventRejected) as err:
        eng.send_item(cid, "referral-1", "accepted", **PROVIDER)
    assert err.value.reason == "item_closed"
    assert err.value.state == "accepted"


def test_item_id_taken_is_a_conflict(eng: Engine) -> None:
    cid = _case(eng)
    eng.add_item(cid, "referral", HOUSING, item_id="ref-a", **CM)
    before = _snapshot(eng, cid)
    with pytest.raises(ItemIdTaken) as err:
        eng.add_item(cid, "referral", FOOD, item_id="ref-a", **CM)
    assert err.value.item_id == "ref-a"
    with pytest.raises(PayloadInvalid) as bad:
        eng.add_item(cid, "referral", FOOD, item_id="no spaces", **CM)
    assert bad.value.json_path == "$.item_id"
    assert _snapshot(eng, cid) == before


def test_items_of_a_closed_case_refuse_events(eng: Engine) -> None:
    cid = _case(eng)
    eng.add_item(cid, "referral", HOUSING, **CM)
    view = eng.send(cid, "close", **CM)
    item = view.item("referral-1")
    assert item is not None
    assert item.state == "sent"
    assert item.timers == ()
    with pytest.raises(EventRejected) as err:
        eng.send_item(cid, "referral-1", "accepted", **PROVIDER)
    assert err.value.reason == "case_state"


# -- idempotency and concurrency -------------------------------------------------------------


def test_idempotent_retry_replays_and_a_different_request_conflicts(eng: Engine) -> None:
    cid = _case(eng)
    first = eng.add_item(cid, "referral", HOUSING, idempotency_key="add-1", **CM)
    again = eng.add_item(cid, "referral", HOUSING, idempotency_key="add-1", **CM)
    assert again == first
    assert len(eng.items(cid)) == 1
    with pytest.raises(IdempotencyKeyReused):
        eng.add_item(cid, "referral", FOOD, idempotency_key="add-1", **CM)
    sent = eng.send_item(cid, "referral-1", "waitlist", idempotency_key="w-1", **PROVIDER)
    assert eng.send_item(cid, "referral-1", "waitlist", idempotency_key="w-1", **PROVIDER) == sent
    with pytest.raises(IdempotencyKeyReused):
        eng.send_item(cid, "referral-1", "accepted", idempotency_key="w-1", **PROVIDER)
    assert eng.get(cid).version == sent.version


def test_stale_expected_version_is_refused(eng: Engine) -> None:
    cid = _case(eng)
    view = eng.add_item(cid, "referral", HOUSING, expected_version=1, **CM)
    before = _snapshot(eng, cid)
    with pytest.raises(ConcurrencyConflict) as err:
        eng.send_item(cid, "referral-1", "waitlist", expected_version=1, **PROVIDER)
    assert (err.value.expected_version, err.value.actual_version) == (1, view.version)
    with pytest.raises(ConcurrencyConflict):
        eng.add_item(cid, "referral", FOOD, expected_version=2, **CM)
    assert _snapshot(eng, cid) == before
    eng.send_item(cid, "referral-1", "waitlist", expected_version=view.version, **PROVIDER)


def test_audit_verifies_with_item_rows_and_catches_an_edited_item_row(
    eng: Engine, database_url: str
) -> None:
    cid = _case(eng)
    eng.add_item(cid, "referral", HOUSING, **CM)
    eng.send_item(cid, "referral-1", "waitlist", **PROVIDER)
    report = eng.verify_audit()
    assert report.ok
    assert report.rows_checked == 4
    import sqlalchemy as sa

    db = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    with db.begin() as conn:
        conn.execute(
            sa.text("UPDATE history SET item_to = 'accepted' WHERE case_id = :c AND seq = 4"),
            {"c": cid},
        )
    db.dispose()
    broken = eng.verify_audit()
    assert not broken.ok
    assert broken.first_broken is not None
    assert broken.first_broken.seq == 4
