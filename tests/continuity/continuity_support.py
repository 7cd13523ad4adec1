"""Shared by the continuity tests: the outreach v1/v2 fixture pair, plans, import files."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from phi_sentinel import SENTINEL

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "migration"
V1 = FIXTURES / "v1"
V2 = FIXTURES / "v2"
PLANS = FIXTURES / "plans"
MANAGER = {"actor": "cm-1", "roles": ["case_manager"]}
START = datetime.fromisoformat("2026-03-02T15:00:00+00:00")  # a Monday


def outreach_rows(
    n: int,
    now: datetime,
    *,
    state: str = "assessing",
    age_days: int = 10,
    prefix: str = "P",
    monitoring_every: int = 3,
) -> Iterable[dict[str, Any]]:
    """``n`` import rows of running outreach v1 cases, ``age_days`` in ``state``; every
    ``monitoring_every``-th (0: none) in monitoring with its reassessment clock from the
    record's date; the PHI sentinel in ``legacy_code`` of every fifth."""
    entered = (now - timedelta(days=age_days)).isoformat()
    for i in range(n):
        record: dict[str, Any] = {"patient_id": f"{prefix}-{i:06d}", "risk_level": "low"}
        row: dict[str, Any] = {"workflow": "outreach", "state": state, "entered_at": entered}
        if monitoring_every and i % monitoring_every == monitoring_every - 1:
            row["state"] = "monitoring"
            record["last_assessment_date"] = (now - timedelta(days=100)).date().isoformat()
            row["clocks"] = {"annual_reassessment": "anchor"}
        if i % 5 == 0:
            record["legacy_code"] = SENTINEL
        row["record"] = record
        yield row


def write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    return path


def write_csv(path: Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    """The rows as CSV: record.FIELD and clock.NAME columns."""
    fields = [
        "workflow",
        "state",
        "entered_at",
        "record.patient_id",
        "record.risk_level",
        "record.last_assessment_date",
        "record.legacy_code",
        "clock.annual_reassessment",
    ]
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        for row in rows:
            flat = {k: row.get(k, "") for k in ("workflow", "state", "entered_at")}
            for k, v in row.get("record", {}).items():
                flat[f"record.{k}"] = v
            for k, v in (row.get("clocks") or {}).items():
                flat[f"clock.{k}"] = v
            w.writerow(flat)
    return path
