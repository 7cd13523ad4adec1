"""Every bundled workflow driven from intake to closure through the Python API.

The scripted paths live in ``tests/paths/<workflow>.yaml``; ``advance`` steps
move the manual clock and fire due timers, as a worker would; ``add_item`` and
``item`` steps add and change the case's work items, and ``expect_items``
checks their states.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.clock import ManualClock
from engine.definitions import load_workflows
from engine.definitions.durations import parse_duration
from engine.runtime.engine import Engine

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "workflows"
PATHS = ROOT / "tests" / "paths"
WORKFLOW_NAMES = sorted(d.name for d in load_workflows([WORKFLOWS]))


def _advance(clock: ManualClock, text: str) -> None:
    d = parse_duration(text)
    # calendar parts as days of 24 h are fine for virtual time in a script
    days = d.years * 365 + d.months * 30 + d.weeks * 7 + d.days
    clock.advance(days=days, hours=d.hours, minutes=d.minutes, seconds=d.seconds)


def _load_paths(name: str) -> list[dict[str, Any]]:
    path = PATHS / f"{name}.yaml"
    if not path.exists():
        pytest.skip(f"no scripted paths yet for {name} ({path.name})")
    doc = yaml.safe_load(path.read_text())
    assert doc["workflow"] == name
    return list(doc["paths"])


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_workflow_runs_to_closure(name: str, database_url: str) -> None:
    paths = _load_paths(name)
    clock = ManualClock()
    with Engine.open(database_url, workflows=WORKFLOWS, clock=clock) as eng:
        final_states = set(eng.definition(name).final_states)
        for p in paths:
            opener = list(eng.definition(name).open_roles)
            case = eng.open_case(name, p["record"], actor="intake-1", roles=opener)
            for i, step in enumerate(p["steps"]):
                where = f"{name}/{p['name']} step {i + 1}"
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
                if "expect" in step:
                    assert eng.get(case.id).state == step["expect"], where
                if "expect_items" in step:
                    states = {i.id: i.state for i in eng.items(case.id)}
                    for item_id, expected in step["expect_items"].items():
                        assert states.get(item_id) == expected, f"{where}: item {item_id}"
            final = eng.get(case.id)
            assert final.state == p["final"], f"{name}/{p['name']}"
            assert final.state in final_states
            assert final.closed
            assert eng.verify_audit(case.id).ok
