"""Cases with work items for the read tests (listing, search, CLI, console, metrics).

The workflow is tests/fixtures/valid/items_demo.yaml (referrals and
appointments); a referral's ``no_answer`` timer is due 14 days after it was sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.clock import Clock
from engine.runtime.engine import Engine

DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "valid" / "items_demo.yaml"
CM: dict[str, Any] = {"actor": "cm-17", "roles": ["case_manager"]}
PROVIDER: dict[str, Any] = {"actor": "prov-3", "roles": ["provider"]}
HOUSING = {"provider": "Housing First", "service": "housing_assistance"}
FOOD = {"provider": "Food Bank", "service": "food_support"}


def open_demo(database_url: str, clock: Clock) -> Engine:
    return Engine.open(database_url, workflows=[DEMO], clock=clock)


def linking_case(eng: Engine, patient: str = "P-0001") -> str:
    """A demo case in ``linking``, where referrals may be added."""
    cid = eng.open_case("items_demo", {"patient_id": patient}, **CM).id
    eng.send(cid, "accept", **CM)
    eng.send(cid, "assessed", **CM)
    return cid
