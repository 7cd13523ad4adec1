"""Every timer of every bundled workflow fires on SQLite and on PostgreSQL.

For each timer, the shortest scripted-path prefix that reaches its state is
replayed against the real database (manual clock) and time is moved to the
timer's due instant; the case's history must then show the firing. The
cases share one database per workflow and backend.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.clock import ManualClock
from engine.definitions import load_workflow
from engine.runtime.engine import Engine
from engine.runtime.views import ActionContext
from engine.simulation.simulator import Simulation, parse_start

from ._coverage import WORKFLOWS, paths_of, reach_of


def _ignore(_ctx: ActionContext) -> None:
    return None


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.stem)
def test_every_timer_fires_on_the_database(workflow: Path, database_url: str) -> None:
    definition = load_workflow(workflow)
    if not paths_of(definition.name):
        pytest.skip(f"no scripted paths for {definition.name} yet")
    reach = reach_of(workflow)
    start = parse_start(None, definition.timezone)
    clock = ManualClock(start)
    actions = dict.fromkeys(definition.action_names(), _ignore)
    fired: set[tuple[str, str]] = set()
    unreachable: list[tuple[str, str]] = []
    with Engine.open(database_url, workflows=[workflow], clock=clock, actions=actions) as engine:
        loaded = engine.definition(definition.name, definition.version)
        for timer in loaded.all_timers():
            prefix = reach.prefixes.get(timer.state)
            if prefix is None or timer.name not in reach.pending.get(timer.state, set()):
                unreachable.append((timer.state, timer.name))
                continue
            clock.set(start)
            sim = Simulation(engine, loaded, clock, start)
            sim.run(prefix)
            due = next(t.due_at for t in sim.pending_timers() if t.name == timer.name)
            assert due is not None
            sim.advance_to(due)
            history = engine.history(sim.case_id or "")
            if any(r.timer == timer.name and r.from_state == timer.state for r in history):
                fired.add((timer.state, timer.name))
    wanted = {(t.state, t.name) for t in definition.all_timers()}
    assert unreachable == [], f"no path prefix reaches these timers: {unreachable}"
    assert sorted(wanted - fired) == []
