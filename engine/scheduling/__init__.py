"""Timers: due-instant computation, business calendars, the worker and the simulator.

``due`` and ``calendar`` are pure (no I/O); the worker (APScheduler) and the
simulator are imported from their modules so that importing this package
stays cheap.
"""

from __future__ import annotations

from engine.scheduling.calendar import BusinessCalendar, add_duration, business_calendar
from engine.scheduling.due import first_due, next_recurrence

__all__ = [
    "BusinessCalendar",
    "add_duration",
    "business_calendar",
    "first_due",
    "next_recurrence",
]
