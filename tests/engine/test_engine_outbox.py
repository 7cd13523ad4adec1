"""Actions run after commit from the outbox: at least once, retried, dead-lettered."""

from __future__ import annotations

import pytest
from engine_support import CLERK, RECORD

from engine.clock import ManualClock
from engine.runtime.engine import Engine
from engine.runtime.views import ActionContext


def test_actions_queued_in_exit_transition_enter_order_and_delivered(engine: Engine) -> None:
    seen: list[ActionContext] = []
    for name in ("left_intake", "log_contact", "notify_assessor"):
        engine.register_action(name, seen.append)
    case = engine.open_case("enginetest", RECORD, **CLERK)
    engine.send(case.id, "contacted", **CLERK)
    assert [o.action for o in engine.outbox(status="pending").items] == [
        "left_intake",
        "log_contact",
        "notify_assessor",
    ]
    assert engine.deliver_outbox() == 3
    assert [c.action for c in seen] == ["left_intake", "log_contact", "notify_assessor"]
    ctx = seen[0]
    assert (ctx.case_id, ctx.event, ctx.workflow, ctx.attempt) == (
        case.id,
        "contacted",
        "enginetest",
        1,
    )
    assert ctx.idempotency_key == f"outbox-{ctx.outbox_id}"
    assert all(o.status == "done" for o in engine.outbox().items)
    assert engine.deliver_outbox() == 0


def test_failing_action_retries_with_backoff_then_dead_letters(
    engine: Engine, clock: ManualClock
) -> None:
    calls: list[int] = []

    def flaky(ctx: ActionContext) -> None:
        calls.append(ctx.attempt)
        raise RuntimeError("patient Jane Doe unreachable")  # must not be recorded

    engine.outbox_max_attempts = 3
    for name in ("left_intake", "notify_assessor"):
        engine.register_action(name, lambda ctx: None)
    engine.register_action("log_contact", flaky)
    case = engine.open_case("enginetest", RECORD, **CLERK)
    engine.send(case.id, "contacted", **CLERK)
    assert engine.deliver_outbox() == 3
    assert engine.deliver_outbox() == 0  # backing off
    clock.advance(seconds=10)
    assert engine.deliver_outbox() == 1
    clock.advance(seconds=19)
    assert engine.deliver_outbox() == 0  # second delay is 20 s
    clock.advance(seconds=1)
    assert engine.deliver_outbox() == 1
    assert calls == [1, 2, 3]
    (dead,) = engine.outbox(status="dead").items
    assert dead.action == "log_contact"
    assert dead.last_error == "RuntimeError"
    assert engine.stats().outbox_dead == 1
    assert engine.get(case.id).state == "assessing"  # the state change stands
    engine.register_action("log_contact", lambda ctx: None)
    retried = engine.retry_outbox(dead.id, actor="ops-1")
    assert retried.status == "pending"
    assert engine.deliver_outbox() == 1
    assert engine.outbox(status="dead").items == ()


def test_unregistered_action_is_dead_lettered_without_undoing_the_change(engine: Engine) -> None:
    case = engine.open_case("enginetest", RECORD, **CLERK)
    engine.send(case.id, "contacted", **CLERK)
    assert engine.deliver_outbox() == 3
    dead = engine.outbox(status="dead").items
    assert {d.last_error for d in dead} == {"ActionNotRegistered"}
    assert len(dead) == 3
    assert engine.get(case.id).state == "assessing"


def test_outbox_pagination(engine: Engine) -> None:
    case = engine.open_case("enginetest", RECORD, **CLERK)
    engine.send(case.id, "contacted", **CLERK)
    first = engine.outbox(limit=2)
    rest = engine.outbox(limit=2, cursor=first.next_cursor)
    assert [o.action for o in (*first.items, *rest.items)] == [
        "left_intake",
        "log_contact",
        "notify_assessor",
    ]


def test_failures_are_logged_without_case_data(engine: Engine, caplog) -> None:
    import logging

    def leaky(ctx: ActionContext) -> None:
        raise ValueError("patient Jane Doe, DOB 1970-01-01")

    engine.outbox_max_attempts = 1
    engine.register_action("log_contact", leaky)
    case = engine.open_case("enginetest", {"patient_id": "P-4242"}, **CLERK)
    engine.send(case.id, "contacted", **CLERK)
    with caplog.at_level(logging.DEBUG):
        engine.deliver_outbox()
    assert "log_contact" in caplog.text
    assert "Jane" not in caplog.text
    assert "P-4242" not in caplog.text
    assert {o.last_error for o in engine.outbox(status="dead").items} == {
        "ValueError",
        "ActionNotRegistered",
    }


def test_retry_of_delivered_or_unknown_item_is_refused(engine: Engine) -> None:
    from engine.errors import EngineError

    for name in ("left_intake", "log_contact", "notify_assessor"):
        engine.register_action(name, lambda ctx: None)
    case = engine.open_case("enginetest", RECORD, **CLERK)
    engine.send(case.id, "contacted", **CLERK)
    engine.deliver_outbox()
    done = engine.outbox(status="done").items[0]
    with pytest.raises(EngineError):
        engine.retry_outbox(done.id, actor="ops-1")
    with pytest.raises(EngineError):
        engine.retry_outbox(999_999, actor="ops-1")
