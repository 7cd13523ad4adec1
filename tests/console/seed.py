"""Cases for the console's tests and benchmark, written through the engine.

Cases are opened ``days_ago`` in the past on a manual clock, so their
deadlines are past due by real time; some are moved on (first contact,
on hold, proposed for closure); every queued action is delivered with no
handler registered, so each becomes a dead letter (a failed action).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine.api.clients import PERMISSIONS, Client, hash_token
from engine.clock import ManualClock
from engine.runtime.engine import Engine

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "workflows"
ADMIN_TOKEN = "console-admin-token-0123456789"
READER_TOKEN = "console-reader-token-0123456789"
CM = ("case_manager", "intake_coordinator", "supervisor")

RECORD = {"patient_id": "P-0001", "program": "housing", "priority": "routine", "risk_level": "low"}


@dataclass
class Seeded:
    overdue: list[str] = field(default_factory=list)  # opened long ago, deadline past
    on_time: list[str] = field(default_factory=list)
    on_hold: list[str] = field(default_factory=list)
    closing: list[str] = field(default_factory=list)


def write_clients(path: Path) -> Path:
    clients = [
        Client("admin", "console:admin", ("*",), hash_token(ADMIN_TOKEN), PERMISSIONS),
        Client("reader", "console:reader", (), hash_token(READER_TOKEN), frozenset({"read"})),
    ]
    path.write_text(json.dumps({"clients": [c.to_dict() for c in clients]}))
    os.chmod(path, 0o600)
    return path


def seed(database_url: str, *, cases: int = 12, now: datetime | None = None) -> Seeded:
    """Open ``cases`` brokerage cases (a third of them long overdue) and move some on."""
    now = now or datetime.now(UTC)
    clock = ManualClock(now - timedelta(days=60))
    out = Seeded()
    with Engine.open(database_url, workflows=WORKFLOWS, clock=clock) as eng:
        for i in range(cases):
            late = i % 3 == 0
            clock.set(now - (timedelta(days=60 - i) if late else timedelta(hours=2 + i)))
            record = {**RECORD, "patient_id": f"P-{i:05d}"}
            case = eng.open_case("brokerage", record, actor="seed", roles=CM)
            if i % 6 == 1:
                eng.send(case.id, "put_on_hold", {"hold_reason": "hospitalised"}, actor="seed",
                         roles=CM)
                out.on_hold.append(case.id)
            elif i % 6 == 2:
                eng.send(case.id, "found_ineligible", {}, actor="seed", roles=CM)
                out.closing.append(case.id)
            elif late:
                out.overdue.append(case.id)
            else:
                out.on_time.append(case.id)
        clock.set(now)
        while eng.deliver_outbox(limit=500):
            pass  # no handlers: every action is dead-lettered
    return out
