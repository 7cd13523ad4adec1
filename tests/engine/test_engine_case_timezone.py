"""A case's own time zone moves its deadlines; an unknown zone is a clear error."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine import Engine, ManualClock, PayloadInvalid

WORKFLOW = """\
name: tztest
version: 1
title: Case time zones
description: A first contact due one business day after referral, in the client's zone.
model: brokerage
timezone: America/New_York
calendar: {country: US}
roles:
  clerk: {description: contacts clients}
case_schema:
  type: object
  required: [patient_id]
  properties:
    patient_id: {type: string}
    timezone: {type: string, description: IANA zone the client lives in}
initial: referred
states:
  referred:
    phase: intake
    description: Waiting for first contact.
    timers:
      - {name: first_contact, business_days: 1, event: contact_overdue}
    transitions:
      - {event: contact_overdue, internal: true}
      - {event: next, target: assessing, roles: [clerk]}
  assessing:
    phase: assessment
    description: filler
    transitions: [{event: next, target: planning, roles: [clerk]}]
  planning:
    phase: planning
    description: filler
    transitions: [{event: next, target: delivering, roles: [clerk]}]
  delivering:
    phase: service_delivery
    description: filler
    transitions: [{event: next, target: monitoring, roles: [clerk]}]
  monitoring:
    phase: monitoring
    description: filler
    transitions: [{event: next, target: done, roles: [clerk]}]
  done:
    phase: closure
    description: Closed.
    final: true
"""

# Friday 2026-01-09 10:00 in Tokyo is Thursday 20:00 in New York.
OPENED = datetime(2026, 1, 9, 1, 0, tzinfo=UTC)


@pytest.fixture
def workflows(tmp_path: Path) -> Path:
    folder = tmp_path / "wf"
    folder.mkdir()
    (folder / "tztest.yaml").write_text(WORKFLOW)
    return folder


def test_business_day_deadline_counts_in_the_case_time_zone(
    database_url: str, workflows: Path
) -> None:
    with Engine.open(database_url, workflows=workflows, clock=ManualClock(OPENED)) as eng:
        tokyo = eng.open_case(
            "tztest", {"patient_id": "P-1", "timezone": "Asia/Tokyo"}, actor="c", roles=["clerk"]
        )
        plain = eng.open_case("tztest", {"patient_id": "P-2"}, actor="c", roles=["clerk"])
    assert [t.due_at for t in tokyo.pending_timers] == [datetime(2026, 1, 12, 1, 0, tzinfo=UTC)]
    assert [t.due_at for t in plain.pending_timers] == [datetime(2026, 1, 10, 1, 0, tzinfo=UTC)]


def test_unknown_case_time_zone_is_rejected_at_its_path_without_echoing_it(
    database_url: str, workflows: Path
) -> None:
    with Engine.open(database_url, workflows=workflows, clock=ManualClock(OPENED)) as eng:
        with pytest.raises(PayloadInvalid) as info:
            eng.open_case(
                "tztest",
                {"patient_id": "P-3", "timezone": "Mars/Olympus_Mons"},
                actor="c",
                roles=["clerk"],
            )
        assert list(eng.find().items) == []  # nothing was written
    assert info.value.json_path == "$.timezone"
    assert "Olympus" not in str(info.value)
