"""Every action of the bundled workflows' scripted paths reaches a webhook receiver or a puller.

The paths of tests/paths/<workflow>.yaml (work-item steps too) run through
the Python API, one workflow per database (advances move a manual clock and fire timers, as a
worker would); every second action
name is delivered by webhook to the loopback receiver (verifying with
``standardwebhooks``), the others are pulled and completed. At the end each
queued action was delivered exactly once: none lost, none doubled.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.clock import ManualClock
from engine.definitions import load_workflows
from engine.definitions.durations import parse_duration
from engine.runtime.delivery_config import DeliveryConfig
from engine.runtime.engine import Engine

from .support import Receiver, new_secret

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "workflows"
PATHS = ROOT / "tests" / "paths"


def _advance(clock: ManualClock, text: str) -> None:
    d = parse_duration(text)
    days = d.years * 365 + d.months * 30 + d.weeks * 7 + d.days
    clock.advance(days=days, hours=d.hours, minutes=d.minutes, seconds=d.seconds)


def _drive(eng: Engine, clock: ManualClock, name: str) -> None:
    doc = yaml.safe_load((PATHS / f"{name}.yaml").read_text(encoding="utf-8"))
    for p in doc["paths"]:
        opener = sorted(eng.definition(name).roles)  # whoever the workflow lets open
        case = eng.open_case(name, p["record"], actor="intake-1", roles=opener)
        step: dict[str, Any]
        for step in p["steps"]:
            who = {"actor": step.get("actor", "someone"), "roles": step.get("roles", [])}
            if "advance" in step:
                _advance(clock, step["advance"])
                while eng.fire_due_timers(limit=500):
                    pass
            elif "add_item" in step:
                eng.add_item(
                    case.id,
                    step["add_item"],
                    step.get("payload"),
                    item_id=step.get("item_id"),
                    **who,
                )
            elif "item" in step:
                eng.send_item(case.id, step["item"], step["event"], step.get("payload"), **who)
            else:
                eng.send(
                    case.id,
                    step["event"],
                    step.get("payload"),
                    actor=step.get("actor", "someone"),
                    roles=step.get("roles", []),
                )


NAMES = sorted(p.stem for p in PATHS.glob("*.yaml"))


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_every_action_of_every_scripted_path_is_delivered_once(
    name: str, sqlite_url: str, tmp_path: Path
) -> None:
    # one workflow per database and clock: the paths' deadlines assume the
    # manual clock's usual start date, as in tests/engine/test_engine_paths.py
    every_action = sorted({a for d in load_workflows([WORKFLOWS]) for a in d.action_names()})
    webhooked = set(every_action[::2])
    secret = new_secret()
    clock = ManualClock()
    with (
        Receiver(tmp_path / "rx", [secret]) as rx,
        Engine.open(sqlite_url, workflows=WORKFLOWS, clock=clock) as eng,
    ):
        rx.start()
        eng.actions.configure(
            DeliveryConfig.from_mapping(
                {
                    "default_mode": "pull",
                    "webhooks": {"host": {"url": rx.url, "secrets": [secret]}},
                    "actions": {a: {"mode": "webhook", "webhook": "host"} for a in webhooked},
                }
            )
        )
        assert eng.unhandled_actions() == {}
        _drive(eng, clock, name)
        while eng.deliver_outbox(limit=100):
            pass
        pulled: list[int] = []
        pull_names = sorted(set(every_action) - webhooked)
        while items := eng.actions.fetch_and_lock(
            pull_names, worker="w", lease=timedelta(minutes=5), limit=20, actor="svc:tasks"
        ):
            for item in items:
                eng.actions.complete(item.action.outbox_id, item.lease_token)
                pulled.append(item.action.outbox_id)
        items = eng.outbox(status=None, limit=10000).items
        assert items  # the paths queue actions
        assert {i.status for i in items} == {"done"}
        by_webhook = sorted(f"outbox-{i.id}" for i in items if i.action in webhooked)
        assert sorted(rx.lines("effects")) == by_webhook
        assert sorted(pulled) == sorted(i.id for i in items if i.action not in webhooked)
        assert len(by_webhook) + len(pulled) == len(items)
