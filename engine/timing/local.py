"""An instant as the people of a workflow's zone read it, and a listed deadline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["Deadline", "LocalTime", "local_parts"]


@dataclass(frozen=True, slots=True)
class LocalTime:
    """An instant as the people of the workflow's zone read it."""

    date: str  # 2026-01-05
    time: str  # 09:00
    weekday: str  # Mon
    zone: str  # CST / CEST / UTC

    def __str__(self) -> str:
        return f"{self.weekday} {self.date} {self.time} {self.zone}"

    def to_dict(self) -> dict[str, str]:
        return {"date": self.date, "time": self.time, "weekday": self.weekday, "zone": self.zone}


def local_parts(instant: datetime, tz: ZoneInfo) -> LocalTime:
    local = instant.astimezone(tz)
    return LocalTime(
        date=local.strftime("%Y-%m-%d"),
        time=local.strftime("%H:%M"),
        weekday=local.strftime("%a"),
        zone=local.tzname() or str(tz),
    )


@dataclass(frozen=True, slots=True)
class Deadline:
    """When one timer of one state would fire if the case entered the state at the start."""

    state: str
    timer: str
    event: str
    kind: str
    spec: str  # "P14D", "10 business days", "every P7D", "at case.discharge_date + P7D"
    due_at: datetime | None
    local: LocalTime | None
    day: int | None
    pausable: bool
    note: str = ""  # why there is no due instant (e.g. an `at` field not set)
    then: tuple[datetime, ...] = ()  # the next firings of a recurring timer

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "timer": self.timer,
            "event": self.event,
            "kind": self.kind,
            "spec": self.spec,
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "local": self.local.to_dict() if self.local else None,
            "day": self.day,
            "pausable": self.pausable,
            "note": self.note,
            "then": [t.isoformat() for t in self.then],
        }
