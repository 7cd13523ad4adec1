"""A case record's `timezone` overrides the workflow's zone for its deadlines."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.timing.due import first_due, next_recurrence, resume_due, timezone_of

from ._defs import definition, timer

BERLIN_CASE = {"timezone": "Europe/Berlin"}


def test_timezone_of_prefers_the_case_record_and_falls_back_to_the_workflow() -> None:
    d = definition(timezone="America/Chicago")
    assert timezone_of(d, BERLIN_CASE) == "Europe/Berlin"
    assert timezone_of(d, {}) == "America/Chicago"
    assert timezone_of(d, None) == "America/Chicago"
    assert timezone_of(d, {"timezone": None}) == "America/Chicago"


def test_daily_cadence_keeps_the_case_local_time_across_the_case_zone_dst_change() -> None:
    # EU daylight saving starts on Sunday 2026-03-29: 08:00 in Berlin is 07:00 UTC
    # the day before and 06:00 UTC that day. The workflow itself runs on UTC.
    d = definition(timezone="UTC")
    daily = timer("every", "P1D")
    previous = datetime(2026, 3, 28, 7, 0, tzinfo=UTC)
    now = datetime(2026, 3, 28, 7, 0, 1, tzinfo=UTC)
    due_case, _ = next_recurrence(
        daily, previous_due=previous, now=now, definition=d, case=BERLIN_CASE
    )
    due_flow, _ = next_recurrence(daily, previous_due=previous, now=now, definition=d)
    assert due_case == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)
    assert due_flow == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)


def test_business_days_count_in_the_case_zone() -> None:
    # Friday 2026-01-09 10:00 in Tokyo is Thursday 20:00 in New York.
    d = definition(timezone="America/New_York")
    entered = datetime(2026, 1, 9, 1, 0, tzinfo=UTC)
    one_day = timer("business_days", 1)
    tokyo = first_due(
        one_day, entered_at=entered, definition=d, case={"timezone": "Asia/Tokyo"}, now=entered
    )
    new_york = first_due(one_day, entered_at=entered, definition=d, case={}, now=entered)
    assert tokyo == datetime(2026, 1, 12, 1, 0, tzinfo=UTC)  # Monday 10:00 Tokyo
    assert new_york == datetime(2026, 1, 10, 1, 0, tzinfo=UTC)  # Friday 20:00 New York


def test_resume_counts_business_days_left_in_the_case_zone() -> None:
    d = definition(timezone="America/New_York")
    two_days = timer("business_days", 2)
    tokyo = {"timezone": "Asia/Tokyo"}
    entered = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)  # Monday 10:00 Tokyo
    due = first_due(two_days, entered_at=entered, definition=d, case=tokyo, now=entered)
    assert due == datetime(2026, 1, 7, 1, 0, tzinfo=UTC)  # Wednesday 10:00 Tokyo
    # Paused at once, resumed on Friday 10:00 Tokyo: two business days later is Tuesday.
    resumed = datetime(2026, 1, 9, 1, 0, tzinfo=UTC)
    after = resume_due(
        two_days, due_at=due, paused_at=entered, resumed_at=resumed, definition=d, case=tokyo
    )
    assert after == datetime(2026, 1, 13, 1, 0, tzinfo=UTC)
