"""Where each timer of a bundled workflow can be reached, from the scripted paths."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from engine.definitions import load_workflow
from engine.simulation.script import ScriptStep, steps_from_path
from engine.simulation.simulator import open_simulation

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / "workflows").glob("*.yaml"))
PATHS = ROOT / "tests" / "paths"


def paths_of(name: str) -> list[dict[str, Any]]:
    f = PATHS / f"{name}.yaml"
    if not f.exists():
        return []
    return list(yaml.safe_load(f.read_text(encoding="utf-8")).get("paths", []))


@dataclass
class Reach:
    """Per state: the shortest path prefix that reaches it and the timers then pending."""

    prefixes: dict[str, list[ScriptStep]]
    pending: dict[str, set[str]]
    fired: set[tuple[str, str]]  # (state, timer) seen firing along the full paths


def reach_of(workflow: Path) -> Reach:
    name = load_workflow(workflow).name
    reach = Reach({}, {}, set())
    for path in paths_of(name):
        steps = steps_from_path(path)
        with open_simulation(workflow) as sim:
            for i, step in enumerate(steps):
                sim.step(step)
                state = sim.state
                if state not in reach.prefixes or len(reach.prefixes[state]) > i + 1:
                    reach.prefixes[state] = steps[: i + 1]
                    reach.pending[state] = {t.name for t in sim.pending_timers()}
            for e in sim.timeline().timers_fired:
                reach.fired.add((e.from_state or "", e.timer or ""))
    return reach
