"""`set` expressions see the case as it was before the event, whatever the order."""

from __future__ import annotations

from pathlib import Path

from engine import Engine, ManualClock

WORKFLOW = """\
name: settest
version: 1
title: Set semantics
description: set expressions read the case before the change.
model: brokerage
roles:
  clerk: {description: records scores}
case_schema:
  type: object
  required: [patient_id]
  properties:
    patient_id: {type: string}
    score: {type: integer, default: 1}
    previous_score: {type: integer, default: 0}
    doubled: {type: integer, default: 0}
initial: intake
states:
  intake:
    phase: intake
    description: Scores are recorded here.
    transitions:
      - event: scored
        internal: true
        roles: [clerk]
        payload:
          type: object
          required: [score]
          properties: {score: {type: integer}}
        writes: [score]
        set:
          doubled: case.score * 2
          previous_score: case.score
      - event: next
        target: assessing
        roles: [clerk]
  assessing:
    phase: assessment
    description: unused phase filler
    transitions:
      - {event: next, target: planning, roles: [clerk]}
  planning:
    phase: planning
    description: unused phase filler
    transitions:
      - {event: next, target: delivering, roles: [clerk]}
  delivering:
    phase: service_delivery
    description: unused phase filler
    transitions:
      - {event: next, target: monitoring, roles: [clerk]}
  monitoring:
    phase: monitoring
    description: unused phase filler
    transitions:
      - {event: close, target: done, roles: [clerk]}
  done:
    phase: closure
    description: Closed.
    final: true
"""


def test_set_reads_the_case_before_the_writes_of_the_same_event(
    database_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "wf"
    folder.mkdir()
    (folder / "settest.yaml").write_text(WORKFLOW)
    with Engine.open(database_url, workflows=folder, clock=ManualClock()) as eng:
        case = eng.open_case("settest", {"patient_id": "P-1"}, actor="c", roles=["clerk"])
        after = eng.send(case.id, "scored", {"score": 5}, actor="c", roles=["clerk"])
    assert after.record["score"] == 5  # written from the payload
    assert after.record["previous_score"] == 1  # the value before this event
    assert after.record["doubled"] == 2  # computed from the value before, not from 5
