"""resume_due: where a paused deadline lands when the case comes off hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from engine.timing.calendar import business_calendar, localize, zone
from engine.timing.due import first_due, resume_due

from ._defs import definition, timer

NY = "America/New_York"
D = definition(timezone=NY, country="US", subdivision="NY")
tz = zone(NY)
instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
)


def _local(y: int, mo: int, d: int, h: int = 9) -> datetime:
    return localize(datetime(y, mo, d, h), tz)


@settings(max_examples=200, deadline=None)
@given(
    entered=instants,
    pause_after=st.integers(min_value=0, max_value=20 * 24 * 60),
    hold_minutes=st.integers(min_value=0, max_value=90 * 24 * 60),
    spec=st.sampled_from([("business_days", 10), ("after", "P14D"), ("after", "PT72H")]),
)
def test_resumed_deadline_is_never_before_the_resume_and_business_days_stay_business_days(
    entered: datetime, pause_after: int, hold_minutes: int, spec: tuple[str, object]
) -> None:
    t = timer(spec[0], spec[1])
    due = first_due(t, entered_at=entered, definition=D, case={}, now=entered)
    assert due is not None
    paused = entered + timedelta(minutes=pause_after)
    assume(paused < due)
    resumed = paused + timedelta(minutes=hold_minutes)
    new_due = resume_due(t, due_at=due, paused_at=paused, resumed_at=resumed, definition=D)
    assert new_due >= resumed
    if hold_minutes == 0:
        assert new_due == due
    if spec[0] == "business_days" and new_due > resumed:
        cal = business_calendar(D.calendar, D.timezone)
        assert cal.is_business_day(new_due.astimezone(tz).date())


def test_business_days_left_are_counted_again_from_the_resume_date() -> None:
    t = timer("business_days", 10)
    entered = _local(2026, 1, 5)  # Monday
    due = first_due(t, entered_at=entered, definition=D, case={}, now=entered)
    assert due == _local(2026, 1, 20)  # MLK day skipped
    paused = _local(2026, 1, 9, 10)  # Friday: 12, 13, 14, 15, 16, 20 Jan still ahead = 6 days
    resumed = _local(2026, 2, 4, 11)  # Wednesday
    new_due = resume_due(t, due_at=due, paused_at=paused, resumed_at=resumed, definition=D)
    # 5, 6, 9, 10, 11 and (12th is Lincoln's Birthday, a NY holiday) 13 February.
    assert new_due == _local(2026, 2, 13)


def test_calendar_time_left_keeps_local_wall_time_across_a_dst_change() -> None:
    t = timer("after", "P14D")
    entered = _local(2026, 2, 20)  # 09:00 EST
    due = first_due(t, entered_at=entered, definition=D, case={}, now=entered)
    paused = _local(2026, 2, 25)  # 9 days left
    resumed = _local(2026, 3, 10)  # after the change to EDT
    new_due = resume_due(t, due_at=due, paused_at=paused, resumed_at=resumed, definition=D)
    assert new_due.astimezone(tz).replace(tzinfo=None) == datetime(2026, 3, 19, 9, 0)
