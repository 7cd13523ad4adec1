"""Work items carried by a transfer between workflows (both backends).

Fixtures: tests/fixtures/continuity/items/ (outpatient -> inpatient: open referrals
carried with a state mapping, open tasks by state name, notes not at all).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.clock import ManualClock
from engine.definitions import load_workflows
from engine.errors import DefinitionError, PayloadInvalid, TransferInvalid
from engine.runtime.engine import Engine

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "continuity" / "items"
START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
WORKER = {"actor": "w-1", "roles": ["worker"]}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def engine(database_url: str, clock: ManualClock) -> Iterator[Engine]:
    eng = Engine.open(database_url, workflows=[FIXTURES], clock=clock)
    try:
        yield eng
    finally:
        eng.close()


def _case(engine: Engine) -> str:
    return engine.open_case("outpatient", {"patient_id": "P-1"}, **WORKER).id


def test_open_items_are_carried_with_id_data_mapped_state_and_fresh_deadlines(
    engine: Engine, clock: ManualClock
) -> None:
    case_id = _case(engine)
    engine.add_item(case_id, "referral", {"provider": "prov-a", "service": "food"}, **WORKER)
    engine.add_item(case_id, "referral", {"provider": "prov-b"}, **WORKER)
    engine.send_item(case_id, "referral-2", "waitlist", **WORKER)
    engine.add_item(case_id, "referral", {"provider": "prov-c"}, **WORKER)
    engine.send_item(case_id, "referral-3", "hold", **WORKER)  # on_hold: no mapping
    engine.add_item(case_id, "referral", {"provider": "prov-d"}, **WORKER)
    engine.send_item(case_id, "referral-4", "accept", **WORKER)  # closed: stays
    engine.add_item(case_id, "task", {"what": "call"}, **WORKER)
    engine.add_item(case_id, "note", {"text": "x"}, **WORKER)  # type not carried
    clock.advance(timedelta(days=3))

    result = engine.transfer(case_id, "inpatient", **WORKER)

    dst = result.target
    items = {i.id: i for i in engine.items(dst.id)}
    assert sorted(items) == ["referral-1", "referral-2", "task-1"]
    r1, r2, task = items["referral-1"], items["referral-2"], items["task-1"]
    assert (r1.type, r1.state, dict(r1.data)) == (
        "referral",
        "pending",
        {"provider": "prov-a", "service": "food"},
    )
    assert (r2.state, dict(r2.data)) == ("pending", {"provider": "prov-b"})
    assert (task.type, task.state, dict(task.data), task.closed) == (
        "task",
        "open",
        {"what": "call"},
        False,
    )
    assert r1.opened_at == START  # the item existed since then
    # the target type's timers and clocks, armed from the transfer
    due = {(t.name, t.scope): t.due_at for t in r1.timers}
    assert due == {
        ("chase", "item"): clock.now() + timedelta(days=5),
        ("answer_due", "item_clock"): clock.now() + timedelta(days=10),
    }
    # each carried item's history in the target starts with a row naming the source
    rows = [h for h in engine.history(dst.id) if h.item_id is not None]
    assert [(h.item_id, h.event, h.item_from, h.item_to) for h in rows] == [
        ("referral-1", "@transfer_in", None, "pending"),
        ("referral-2", "@transfer_in", None, "pending"),
        ("task-1", "@transfer_in", None, "open"),
    ]
    link = rows[1].payload["@link"]
    assert link == {
        "kind": "transfer",
        "from_case": case_id,
        "from_item": "referral-2",
        "from_type": "referral",
        "from_state": "waitlisted",
    }
    # the source keeps every item where it was
    src_items = {i.id: i.state for i in engine.items(case_id)}
    assert src_items == {
        "referral-1": "sent",
        "referral-2": "waitlisted",
        "referral-3": "on_hold",
        "referral-4": "accepted",
        "task-1": "open",
        "note-1": "written",
    }
    assert engine.verify_audit().ok


def test_carried_item_timers_fire_in_the_target(engine: Engine, clock: ManualClock) -> None:
    case_id = _case(engine)
    engine.add_item(case_id, "referral", {"provider": "prov-a"}, **WORKER)
    dst = engine.transfer(case_id, "inpatient", **WORKER).target
    clock.advance(timedelta(days=11))
    assert engine.fire_due_timers() == 2  # chase, then the answer deadline
    item = engine.item(dst.id, "referral-1")
    assert (item.state, item.closed) == ("lapsed", True)
    assert engine.fire_due_timers() == 0


def test_data_the_target_type_refuses_refuses_the_transfer_with_its_path(
    engine: Engine,
) -> None:
    case_id = _case(engine)
    engine.add_item(case_id, "referral", {"provider": "p", "service": "counselling"}, **WORKER)
    before = engine.history(case_id)
    with pytest.raises(PayloadInvalid) as err:
        engine.transfer(case_id, "inpatient", **WORKER)
    assert err.value.json_path == "$.service"
    assert "referral-1" in str(err.value)
    assert "counselling" not in str(err.value)  # values are not echoed
    # nothing happened: the case is open where it was
    assert engine.get(case_id).state == "intake"
    assert len(engine.history(case_id)) == len(before)


def test_a_mapping_to_a_type_the_target_lacks_is_refused_when_the_transfer_runs(
    tmp_path: Path, database_url: str, clock: ManualClock
) -> None:
    text = (FIXTURES / "outpatient.yaml").read_text().replace("task: task", "task: chore")
    (tmp_path / "outpatient.yaml").write_text(text)
    (tmp_path / "inpatient.yaml").write_text((FIXTURES / "inpatient.yaml").read_text())
    eng = Engine.open(database_url, workflows=[tmp_path], clock=clock)
    try:
        case_id = _case(eng)
        with pytest.raises(TransferInvalid) as err:
            eng.transfer(case_id, "inpatient", **WORKER)
        assert "'chore'" in str(err.value)
        assert "referral, task" in str(err.value)
        assert eng.get(case_id).state == "intake"
    finally:
        eng.close()


def test_a_mapping_to_a_state_the_target_type_lacks_is_refused(
    tmp_path: Path, database_url: str, clock: ManualClock
) -> None:
    text = (
        (FIXTURES / "outpatient.yaml")
        .read_text()
        .replace("waitlisted: pending", "waitlisted: queued")
    )
    (tmp_path / "outpatient.yaml").write_text(text)
    (tmp_path / "inpatient.yaml").write_text((FIXTURES / "inpatient.yaml").read_text())
    eng = Engine.open(database_url, workflows=[tmp_path], clock=clock)
    try:
        case_id = _case(eng)
        with pytest.raises(TransferInvalid) as err:
            eng.transfer(case_id, "inpatient", **WORKER)
        assert "'queued'" in str(err.value)
    finally:
        eng.close()


@pytest.mark.parametrize(
    ("old", "new", "code", "where"),
    [
        (
            "      task: task",
            "      chore: task",
            "unknown-item-type",
            "$.transfers[0].items.chore",
        ),
        (
            "{sent: pending, waitlisted: pending}",
            "{sent: pending, wait_listed: pending}",
            "unknown-item-state",
            "$.transfers[0].items.referral.states.wait_listed",
        ),
        (
            "{sent: pending, waitlisted: pending}",
            "{sent: pending, accepted: pending}",
            "transfer-item-closed",
            "$.transfers[0].items.referral.states.accepted",
        ),
    ],
)
def test_item_mappings_are_checked_at_load_with_their_location(
    tmp_path: Path, old: str, new: str, code: str, where: str
) -> None:
    text = (FIXTURES / "outpatient.yaml").read_text()
    assert old in text
    path = tmp_path / "outpatient.yaml"
    path.write_text(text.replace(old, new))
    with pytest.raises(DefinitionError) as err:
        load_workflows([path])
    (d,) = [d for d in err.value.diagnostics if d.code == code]
    line = next(i for i, s in enumerate(text.replace(old, new).splitlines(), 1) if new in s)
    assert (d.file, d.line) == (str(path), line)
    assert d.json_path == where
