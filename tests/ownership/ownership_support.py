"""Shared setup of the ownership tests: the fixture workflow, staff, actors."""

from __future__ import annotations

from pathlib import Path

from engine.runtime.engine import Engine

OWNED = Path(__file__).parent / "fixtures" / "owned.yaml"
CLERK = {"actor": "clerk-1", "roles": ["clerk"]}
SUPERVISOR = {"actor": "sup-1", "roles": ["supervisor"]}
CM = {"actor": "cm-ana", "roles": ["case_manager"]}


def staff_up(eng: Engine) -> None:
    """Ana and Ben in north, Cy in south, Dee inactive."""
    eng.put_staff("cm-ana", teams=["north"], roles=["case_manager"], actor="hr")
    eng.put_staff("cm-ben", teams=["north"], roles=["case_manager"], actor="hr")
    eng.put_staff("cm-cy", teams=["south"], roles=["case_manager"], actor="hr")
    eng.put_staff("cm-dee", teams=["north"], active=False, actor="hr")


def open_case(eng: Engine, n: int, risk: str = "low") -> str:
    return eng.open_case("owned", {"patient_id": f"P-{n:04d}", "risk_level": risk}, **CLERK).id
