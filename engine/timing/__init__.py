"""Pure time rules: durations, due instants, business calendars, deadline listings.

Nothing here does I/O or imports the runtime or the store; the runtime, the
worker and the simulator build on it.
"""

from __future__ import annotations

from engine.timing.calendar import BusinessCalendar, add_duration, business_calendar
from engine.timing.due import first_due, next_recurrence

__all__ = [
    "BusinessCalendar",
    "add_duration",
    "business_calendar",
    "first_due",
    "next_recurrence",
]
