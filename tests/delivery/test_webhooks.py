"""Webhooks to a real receiver on loopback, verified with the Standard Webhooks reference library.

The receiver (tests/delivery/receiver.py) is its own process: it verifies
each request with ``standardwebhooks`` and makes its effect once per
``webhook-id``. Every queued action is counted at the end: none lost (every
outbox id reached the receiver's effects), none doubled (each effect once),
whatever crashed on the way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook

from engine.runtime.delivery_config import DeliveryConfig, decode_secret
from engine.runtime.engine import Engine
from engine.runtime.views import ActionContext
from engine.runtime.webhooks import sign

from .support import CLERK, WORKFLOW, Receiver, new_secret, wait_until

FAST_RETRY = {"base_delay_seconds": 0.01, "max_delay_seconds": 0.05, "lease_seconds": 30}


def webhook_config(url: str, secrets: list[str], **retry: object) -> DeliveryConfig:
    return DeliveryConfig.from_mapping(
        {
            "default_mode": "webhook",
            "default_webhook": "host",
            "retry": {**FAST_RETRY, **retry},
            "webhooks": {"host": {"url": url, "secrets": secrets, "timeout_seconds": 10}},
        }
    )


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = Engine.open(database_url, workflows=WORKFLOW)
    try:
        yield eng
    finally:
        eng.close()


def queue_actions(engine: Engine, cases: int) -> int:
    """Drive ``cases`` cases through referral and planning; returns how many actions queued."""
    for i in range(cases):
        case = engine.open_case("dispatch", {"patient_id": f"P-{1000 + i}"}, **CLERK)
        engine.send(case.id, "referred", {"reason": "new referral"}, **CLERK)
        engine.send(case.id, "assessed", **CLERK)
        engine.send(case.id, "planned", **CLERK)
    return 3 * cases  # send_welcome, create_call_task, notify_team


def drain(engine: Engine) -> None:
    def settled() -> bool:
        engine.deliver_outbox()
        return not engine.outbox(status="pending").items

    wait_until(settled, what="every action to settle")


def outbox_ids(engine: Engine, status: str | None = None) -> list[str]:
    return sorted(f"outbox-{i.id}" for i in engine.outbox(status=status, limit=1000).items)


def test_every_action_reaches_a_receiver_that_crashes_mid_delivery_exactly_once(
    engine: Engine, tmp_path: Path
) -> None:
    secret = new_secret()
    with Receiver(tmp_path / "rx", [secret]) as rx:
        engine.actions.configure(webhook_config(rx.url, [secret]))
        queued = queue_actions(engine, 4)
        rx.start(die_after=5)  # the 5th request kills it before it answers
        while engine.deliver_outbox():
            if rx.proc is not None and rx.proc.poll() is not None:
                break
        assert rx.wait_exit() == 3
        rx.start()  # back up on the same port, remembering the effects it made
        drain(engine)
        ids = outbox_ids(engine)
        assert len(ids) == queued
        assert outbox_ids(engine, "done") == ids
        assert sorted(rx.lines("effects")) == ids  # none lost, none doubled
        assert len(rx.lines("received")) >= queued  # at least once on the wire


def test_the_payload_names_ids_and_declared_arguments_never_the_undeclared_record(
    engine: Engine, tmp_path: Path
) -> None:
    secret = new_secret()
    with Receiver(tmp_path / "rx", [secret]) as rx:
        rx.start()
        engine.actions.configure(webhook_config(rx.url, [secret]))
        queue_actions(engine, 1)
        drain(engine)
        bodies = [
            json.loads(json.loads(line)["body"])
            for line in (tmp_path / "rx" / "exchanges").read_text().splitlines()
        ]
    by_action = {b["data"]["action"]: b for b in bodies}
    welcome = by_action["send_welcome"]
    assert welcome["type"] == "action.send_welcome"
    assert welcome["data"]["arguments"] == {"template": "welcome_letter", "priority": "routine"}
    assert set(welcome["data"]) == {
        "outbox_id",
        "idempotency_key",
        "action",
        "case_id",
        "event",
        "history_seq",
        "workflow",
        "workflow_version",
        "attempt",
        "arguments",
    }
    assert welcome["data"]["event"] == "referred"
    assert welcome["data"]["history_seq"] == 2
    assert by_action["create_call_task"]["data"]["arguments"]["reason"] == "new referral"
    assert "record" not in by_action["create_call_task"]["data"]["arguments"]
    team = by_action["notify_team"]["data"]
    assert team["arguments"]["record"]["patient_id"] == "P-1000"  # declared include_record


def test_a_rotated_secret_verifies_with_either_the_old_or_the_new_key(
    engine: Engine, tmp_path: Path
) -> None:
    old, new = new_secret(), new_secret()
    with (
        Receiver(tmp_path / "old", [old]) as knows_old,
        Receiver(tmp_path / "new", [new]) as knows_new,
    ):
        knows_old.start()
        knows_new.start()
        for rx in (knows_old, knows_new):
            engine.actions.configure(webhook_config(rx.url, [new, old]))  # newest first
            queue_actions(engine, 1)
            drain(engine)
        assert len(knows_old.lines("effects")) == 3
        assert len(knows_new.lines("effects")) == 3
        assert outbox_ids(engine, "dead") == []


def test_a_receiver_that_refuses_is_retried_then_dead_lettered_by_attempts(
    engine: Engine, tmp_path: Path
) -> None:
    secret = new_secret()
    with Receiver(tmp_path / "rx", [new_secret()]) as rx:  # knows another secret: 401
        rx.start()
        engine.actions.configure(webhook_config(rx.url, [secret], max_attempts=3))
        queue_actions(engine, 1)
        drain(engine)
    dead = engine.outbox(status="dead").items
    assert len(dead) == 3
    assert {(i.attempts, i.last_error) for i in dead} == {(3, "HTTP 401")}


def test_an_unreachable_receiver_is_dead_lettered_by_age_and_replayable(
    engine: Engine, tmp_path: Path
) -> None:
    secret = new_secret()
    rx = Receiver(tmp_path / "rx", [secret])  # not started: connection refused
    engine.actions.configure(
        webhook_config(rx.url, [secret], max_attempts=1000, max_age_seconds=0.001)
    )
    queue_actions(engine, 1)
    drain(engine)
    dead = engine.outbox(status="dead").items
    assert [i.attempts for i in dead] == [1, 1, 1]
    assert {i.last_error for i in dead} == {"ConnectError"}
    with rx:
        rx.start()
        engine.actions.configure(webhook_config(rx.url, [secret]))
        for item in dead:
            engine.retry_outbox(item.id, actor="ops:alice")  # the operator's replay
        drain(engine)
        assert sorted(rx.lines("effects")) == outbox_ids(engine, "done")


@given(
    msg_id=st.text(st.characters(codec="ascii", exclude_categories=["Cc"]), min_size=1),
    timestamp=st.integers(min_value=0, max_value=2**34),
    body=st.binary(max_size=256),
)
def test_the_signature_is_the_reference_librarys(msg_id: str, timestamp: int, body: bytes) -> None:
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    key = decode_secret(secret)
    ours = sign(msg_id, timestamp, body, (key,))
    expected = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    assert ours == "v1," + base64.b64encode(expected).decode()
    if body.isascii():  # the reference library signs text
        from datetime import UTC, datetime

        ref = Webhook(secret).sign(msg_id, datetime.fromtimestamp(timestamp, UTC), body.decode())
        assert ours == ref


def test_two_secrets_give_two_signatures() -> None:
    keys = (b"a" * 32, b"b" * 32)
    header = sign("outbox-1", 1, b"{}", keys)
    assert [part.split(",")[0] for part in header.split(" ")] == ["v1", "v1"]
    assert len(set(header.split(" "))) == 2


def test_a_python_handler_gets_the_arguments_and_the_history_entry(engine: Engine) -> None:
    seen: list[ActionContext] = []
    engine.register_action("send_welcome", seen.append)
    case = engine.open_case("dispatch", {"patient_id": "P-2000", "priority": "urgent"}, **CLERK)
    engine.send(case.id, "referred", **CLERK)
    engine.deliver_outbox()
    assert [(c.action, c.history_seq, dict(c.arguments)) for c in seen] == [
        ("send_welcome", 2, {"template": "welcome_letter", "priority": "urgent"})
    ]
    assert engine.actions.config is None
    assert timedelta(0) < engine._context.retry_policy("x").lease
