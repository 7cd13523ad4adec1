"""Every timer of every bundled workflow: listed by --deadlines, and seen firing in the simulator.

The scripted paths (tests/paths/*.yaml) are replayed in the simulator; for
each timer no path fires, the shortest path prefix that reaches its state is
replayed and virtual time is moved to the timer's due instant.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.definitions import load_workflow
from engine.definitions.model import WorkflowDefinition
from engine.simulation.script import ScriptError, ScriptStep
from engine.simulation.simulator import open_simulation

from ._coverage import WORKFLOWS, paths_of, reach_of


def _fires(workflow: Path, prefix: list[ScriptStep], timer: str) -> bool:
    with open_simulation(workflow) as sim:
        sim.run(prefix)
        due = next((t.due_at for t in sim.pending_timers() if t.name == timer), None)
        if due is None:
            return False
        sim.advance_to(due)
        return any(e.timer == timer for e in sim.timeline().timers_fired)


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.stem)
def test_deadlines_list_every_timer_of_every_state(
    workflow: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    definition = load_workflow(workflow)
    assert main(["simulate", str(workflow), "--deadlines", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["deadlines"]
    assert {(r["state"], r["timer"]) for r in rows} == {
        (t.state, t.name) for t in definition.all_timers()
    } | {("(clock)", c.name) for c in definition.clocks}
    anchored = {c.name for c in definition.clocks if c.anchor is not None}
    for row in rows:
        # an `at` timer, or a clock anchored to a record field, needs the case record
        if row["kind"] != "at" and not (row["state"] == "(clock)" and row["timer"] in anchored):
            assert row["due_at"] is not None
            assert row["local"]["weekday"]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.stem)
def test_simulator_shows_every_timer_of_the_workflow_firing(workflow: Path) -> None:
    definition: WorkflowDefinition = load_workflow(workflow)
    if not paths_of(definition.name):
        pytest.skip(f"no scripted paths for {definition.name} yet")
    wanted = {(t.state, t.name) for t in definition.all_timers()}
    try:
        reach = reach_of(workflow)
    except ScriptError as exc:  # a path that does not run is the paths' test's concern
        pytest.fail(f"{definition.name}: {exc}")
    seen = set(reach.fired)
    for state, timer in sorted(wanted - seen):
        prefix = reach.prefixes.get(state)
        reachable = prefix is not None and timer in reach.pending.get(state, set())
        if reachable and prefix is not None and _fires(workflow, prefix, timer):
            seen.add((state, timer))
    missing = sorted(wanted - seen)
    assert missing == [], f"timers never seen firing in {definition.name}: {missing}"
