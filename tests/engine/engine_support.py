"""Constants shared by the engine tests."""

from __future__ import annotations

from pathlib import Path

from phi_sentinel import SENTINEL

FIXTURES = Path(__file__).parent / "fixtures"
V1 = FIXTURES / "v1"
V2 = FIXTURES / "v2"
RECORD = {"patient_id": "P-0001", "note": SENTINEL}  # the PHI sentinel (tests/phi_sentinel.py)
CLERK = {"actor": "clerk-1", "roles": ["clerk"]}
MANAGER = {"actor": "mgr-1", "roles": ["manager"]}
