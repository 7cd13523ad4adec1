"""Business days, calendar durations, daylight saving and month ends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from engine.definitions.durations import parse_duration
from engine.definitions.model import Calendar
from engine.timing.calendar import (
    BusinessCalendar,
    add_duration,
    business_calendar,
    localize,
    zone,
)

NY = "America/New_York"
BERLIN = "Europe/Berlin"

CALENDARS = {
    NY: BusinessCalendar("US", "NY", ("2026-12-24",), NY),
    BERLIN: BusinessCalendar("DE", "BE", (), BERLIN),
}

zones = st.sampled_from([NY, BERLIN])
instants = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)


def _wall_exists(wall: datetime, tz_name: str) -> bool:
    tz = zone(tz_name)
    return localize(wall, tz).astimezone(tz).replace(tzinfo=None) == wall


@settings(max_examples=300, deadline=None)
@given(
    start=instants, n=st.integers(min_value=1, max_value=60), tz_name=st.sampled_from([NY, BERLIN])
)
def test_business_days_never_land_on_weekend_or_holiday(
    start: datetime, n: int, tz_name: str
) -> None:
    cal = CALENDARS[tz_name]
    due = cal.add_business_days(start, n)
    local_day = due.astimezone(cal.tz).date()
    assert local_day.weekday() < 5
    assert not cal.is_holiday(local_day)
    assert due.tzinfo is UTC


@settings(max_examples=200, deadline=None)
@given(
    start=instants, n=st.integers(min_value=0, max_value=40), tz_name=st.sampled_from([NY, BERLIN])
)
def test_business_days_are_strictly_monotonic_in_n(start: datetime, n: int, tz_name: str) -> None:
    cal = CALENDARS[tz_name]
    assert cal.add_business_days(start, n) < cal.add_business_days(start, n + 1)


@settings(max_examples=200, deadline=None)
@given(
    start=instants, n=st.integers(min_value=1, max_value=30), tz_name=st.sampled_from([NY, BERLIN])
)
def test_business_days_keep_the_local_time_of_day(start: datetime, n: int, tz_name: str) -> None:
    cal = CALENDARS[tz_name]
    start_local = start.astimezone(cal.tz)
    due_local = cal.add_business_days(start, n).astimezone(cal.tz)
    wall = datetime.combine(due_local.date(), start_local.time().replace(tzinfo=None, fold=0))
    assume(_wall_exists(wall, tz_name))
    assert due_local.time() == start_local.time().replace(fold=0)


@settings(max_examples=200, deadline=None)
@given(
    start=instants, n=st.integers(min_value=1, max_value=30), tz_name=st.sampled_from([NY, BERLIN])
)
def test_business_days_count_exactly_n_working_days(start: datetime, n: int, tz_name: str) -> None:
    cal = CALENDARS[tz_name]
    first = start.astimezone(cal.tz).date()
    last = cal.add_business_days(start, n).astimezone(cal.tz).date()
    days = [first + timedelta(days=i) for i in range(1, (last - first).days + 1)]
    assert sum(cal.is_business_day(d) for d in days) == n


def test_business_days_skip_an_observed_public_holiday() -> None:
    cal = CALENDARS[NY]
    # Thursday 2 July 2026, 10:00 EDT; Friday 3 July is Independence Day (observed).
    start = datetime(2026, 7, 2, 14, 0, tzinfo=UTC)
    due = cal.add_business_days(start, 1).astimezone(cal.tz)
    assert due.date() == date(2026, 7, 6)
    assert (due.hour, due.minute) == (10, 0)


def test_business_days_skip_extra_holidays_of_the_calendar() -> None:
    cal = CALENDARS[NY]
    start = datetime(2026, 12, 23, 15, 0, tzinfo=UTC)  # Wednesday 10:00 EST
    # 24 Dec is an extra holiday, 25 Dec is Christmas, then the weekend.
    assert cal.add_business_days(start, 1).astimezone(cal.tz).date() == date(2026, 12, 28)


def test_business_days_use_the_subdivision_holidays() -> None:
    berlin = CALENDARS[BERLIN]
    bavaria = BusinessCalendar("DE", "BY", (), BERLIN)
    start = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # Monday; 6 January is Epiphany in Bavaria only
    assert berlin.add_business_days(start, 1).astimezone(berlin.tz).date() == date(2026, 1, 6)
    assert bavaria.add_business_days(start, 1).astimezone(berlin.tz).date() == date(2026, 1, 7)


def test_business_days_from_a_saturday_start_on_monday() -> None:
    cal = CALENDARS[NY]
    start = datetime(2026, 1, 10, 15, 0, tzinfo=UTC)  # Saturday 10:00 EST
    assert cal.add_business_days(start, 1).astimezone(cal.tz).date() == date(2026, 1, 12)


def test_zero_business_days_is_the_start_instant() -> None:
    start = datetime(2026, 1, 10, 15, 0, tzinfo=UTC)
    assert CALENDARS[NY].add_business_days(start, 0) == start


def test_business_calendar_from_definition_is_cached() -> None:
    cal = Calendar(country="US", subdivision="CA")
    assert business_calendar(cal, NY) is business_calendar(cal, NY)


def test_unknown_country_subdivision_and_zone_are_value_errors() -> None:
    with pytest.raises(ValueError, match="country"):
        BusinessCalendar("XX")
    with pytest.raises(ValueError, match="subdivision"):
        BusinessCalendar("US", "ZZ")
    with pytest.raises(ValueError, match="time zone"):
        zone("Mars/Olympus_Mons")


def test_naive_start_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        CALENDARS[NY].add_business_days(datetime(2026, 1, 5, 9), 1)


# -- daylight saving -----------------------------------------------------------------

# Local wall-clock starts within three weeks before each transition of 2026.
_dst_windows = {
    NY: [datetime(2026, 2, 20), datetime(2026, 10, 14)],  # changes 8 Mar, 1 Nov
    BERLIN: [datetime(2026, 3, 8), datetime(2026, 10, 7)],  # changes 29 Mar, 25 Oct
}


@settings(max_examples=400, deadline=None)
@given(
    tz_name=st.sampled_from([NY, BERLIN]),
    window=st.integers(min_value=0, max_value=1),
    offset_minutes=st.integers(min_value=0, max_value=21 * 24 * 60 - 1),
    text=st.sampled_from(["P1D", "P7D", "P14D", "P1W", "P2W"]),
)
def test_calendar_day_deadlines_keep_local_wall_time_across_dst(
    tz_name: str, window: int, offset_minutes: int, text: str
) -> None:
    tz = zone(tz_name)
    wall = _dst_windows[tz_name][window] + timedelta(minutes=offset_minutes)
    assume(_wall_exists(wall, tz_name))
    start = localize(wall, tz)
    duration = parse_duration(text)
    days = duration.days + 7 * duration.weeks
    target_wall = wall + timedelta(days=days)
    assume(_wall_exists(target_wall, tz_name))
    due = add_duration(start, duration, tz)
    assert due.astimezone(tz).replace(tzinfo=None) == target_wall


def test_a_day_across_spring_forward_is_23_hours_of_elapsed_time() -> None:
    tz = zone(NY)
    start = localize(datetime(2026, 3, 7, 9, 0), tz)
    assert add_duration(start, parse_duration("P1D"), tz) - start == timedelta(hours=23)
    # PT24H is exact elapsed time: one hour later on the wall clock.
    due = add_duration(start, parse_duration("PT24H"), tz).astimezone(tz)
    assert (due.day, due.hour) == (8, 10)


def test_a_day_across_fall_back_is_25_hours_of_elapsed_time() -> None:
    tz = zone(BERLIN)
    start = localize(datetime(2026, 10, 24, 9, 0), tz)
    assert add_duration(start, parse_duration("P1D"), tz) - start == timedelta(hours=25)


def test_nonexistent_local_time_moves_forward_by_the_gap() -> None:
    tz = zone(NY)
    start = localize(datetime(2026, 3, 7, 2, 30), tz)  # 02:30 EST exists on the 7th
    due = add_duration(start, parse_duration("P1D"), tz).astimezone(tz)
    assert due.replace(tzinfo=None) == datetime(2026, 3, 8, 3, 30)


def test_ambiguous_local_time_takes_the_first_occurrence() -> None:
    tz = zone(NY)
    start = localize(datetime(2026, 10, 31, 1, 30), tz)
    due = add_duration(start, parse_duration("P1D"), tz)
    assert due == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT, not 01:30 EST


def test_calendar_parts_then_clock_parts() -> None:
    tz = zone(NY)
    start = localize(datetime(2026, 3, 7, 9, 0), tz)
    due = add_duration(start, parse_duration("P1DT2H"), tz).astimezone(tz)
    assert due.replace(tzinfo=None) == datetime(2026, 3, 8, 11, 0)


# -- month ends -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "text", "expected"),
    [
        (datetime(2026, 1, 31, 9), "P1M", datetime(2026, 2, 28, 9)),
        (datetime(2028, 1, 31, 9), "P1M", datetime(2028, 2, 29, 9)),
        (datetime(2026, 1, 31, 9), "P2M", datetime(2026, 3, 31, 9)),
        (datetime(2026, 3, 31, 9), "P1M", datetime(2026, 4, 30, 9)),
        (datetime(2028, 2, 29, 9), "P1Y", datetime(2029, 2, 28, 9)),
        (datetime(2026, 11, 30, 9), "P3M", datetime(2027, 2, 28, 9)),
        (datetime(2026, 1, 31, 9), "P1M1D", datetime(2026, 3, 1, 9)),
    ],
)
def test_months_and_years_clamp_to_the_end_of_a_shorter_month(
    start: datetime, text: str, expected: datetime
) -> None:
    tz = zone(BERLIN)
    due = add_duration(localize(start, tz), parse_duration(text), tz)
    assert due.astimezone(tz).replace(tzinfo=None) == expected


@settings(max_examples=200, deadline=None)
@given(
    start=instants,
    months=st.integers(min_value=1, max_value=40),
    tz_name=st.sampled_from([NY, BERLIN]),
)
# 01:00Z on 29 October 2028 is 02:00 CET, the repeated hour in Berlin: zero steps
# must not round-trip it through local time (which reads the first 02:00, CEST)
@example(start=datetime(2028, 10, 29, 1, 0, tzinfo=UTC), months=1, tz_name=BERLIN)
def test_times_multiplies_the_duration_before_adding(
    start: datetime, months: int, tz_name: str
) -> None:
    tz = zone(tz_name)
    stepped = add_duration(start, parse_duration("P1M"), tz, times=months)
    assert stepped == add_duration(start, parse_duration(f"P{months}M"), tz)
    assert add_duration(start, parse_duration("P1M"), tz, times=0) == start
