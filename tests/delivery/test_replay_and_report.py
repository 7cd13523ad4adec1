"""Operators replay actions, even delivered ones; the unhandled report knows the delivery."""

from __future__ import annotations

import json

import pytest

from engine.cli.main import main
from engine.runtime.delivery_config import DeliveryConfig
from engine.runtime.engine import Engine

from .support import CLERK, WORKFLOW


def test_a_delivered_action_is_replayed_from_the_command_line(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[tuple[str, int]] = []
    with Engine.open(database_url, workflows=WORKFLOW) as engine:
        engine.register_action(
            "send_welcome", lambda c: seen.append((c.idempotency_key, c.attempt))
        )
        case = engine.open_case("dispatch", {"patient_id": "P-5000"}, **CLERK)
        engine.send(case.id, "referred", **CLERK)
        engine.deliver_outbox()
        item = next(i for i in engine.outbox(limit=10).items if i.action == "send_welcome")
        assert item.status == "done"
    argv = ["outbox", "replay", "--database-url", database_url, "--workflows", str(WORKFLOW)]
    code = main([*argv, "--actor", "ops:alice", "--json", str(item.id)])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["id"] == item.id
    with Engine.open(database_url, workflows=WORKFLOW) as engine:
        engine.register_action(
            "send_welcome", lambda c: seen.append((c.idempotency_key, c.attempt))
        )
        engine.deliver_outbox()
    assert seen == [(f"outbox-{item.id}", 1), (f"outbox-{item.id}", 1)]  # same key again
    assert main([*argv, "--actor", "ops:alice", "99999"]) == 1


def test_the_unhandled_report_counts_webhook_and_pull_actions_as_delivered(
    sqlite_url: str,
) -> None:
    with Engine.open(sqlite_url, workflows=WORKFLOW) as engine:
        assert engine.unhandled_actions() == {
            ("dispatch", 1): ("create_call_task", "notify_team", "send_welcome")
        }
        engine.register_action("notify_team", lambda c: None)
        engine.actions.configure(
            DeliveryConfig.from_mapping({"actions": {"create_call_task": {"mode": "pull"}}})
        )
        assert engine.unhandled_actions() == {("dispatch", 1): ("send_welcome",)}
        engine.actions.configure(DeliveryConfig.from_mapping({"default_mode": "pull"}))
        assert engine.unhandled_actions() == {}
