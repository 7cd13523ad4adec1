"""first_due and next_recurrence: the due instants the engine arms timers with."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.definitions.durations import parse_duration
from engine.definitions.expressions import ExpressionError
from engine.timing.calendar import add_duration, localize, zone
from engine.timing.due import first_due, next_recurrence

from ._defs import definition, timer

NY = "America/New_York"
NOW = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)  # Monday 09:00 in New York


def due(t, *, case=None, d=None, entered_at=NOW, now=NOW):
    return first_due(
        t, entered_at=entered_at, definition=d or definition(timezone=NY), case=case or {}, now=now
    )


def test_after_counts_calendar_days_in_the_workflow_zone() -> None:
    entered = localize(datetime(2026, 3, 1, 9, 0), zone(NY))
    result = due(timer("after", "P14D"), entered_at=entered)
    assert result.astimezone(zone(NY)).replace(tzinfo=None) == datetime(2026, 3, 15, 9, 0)
    assert result - entered == timedelta(days=14, hours=-1)  # DST began on 8 March


def test_after_clock_parts_are_exact_elapsed_time() -> None:
    entered = localize(datetime(2026, 3, 7, 9, 0), zone(NY))
    assert due(timer("after", "PT72H"), entered_at=entered) - entered == timedelta(hours=72)


def test_business_days_use_the_workflow_calendar() -> None:
    d = definition(timezone=NY, country="US", subdivision="NY")
    entered = localize(datetime(2026, 1, 16, 9, 0), zone(NY))  # Friday; Monday 19th is MLK day
    result = due(timer("business_days", 2), entered_at=entered, d=d).astimezone(zone(NY))
    assert result.replace(tzinfo=None) == datetime(2026, 1, 21, 9, 0)


def test_every_is_first_due_one_period_after_entry() -> None:
    assert due(timer("every", "P7D")) == NOW + timedelta(days=7)


def test_at_accepts_a_cel_timestamp() -> None:
    t = timer("at", 'timestamp("2026-02-01T10:00:00Z")')
    assert due(t) == datetime(2026, 2, 1, 10, 0, tzinfo=UTC)


def test_at_accepts_an_rfc3339_string_with_offset() -> None:
    t = timer("at", "case.review_at")
    assert due(t, case={"review_at": "2026-02-01T10:00:00+01:00"}) == datetime(
        2026, 2, 1, 9, 0, tzinfo=UTC
    )


def test_at_reads_an_iso_date_as_local_midnight_in_the_workflow_zone() -> None:
    t = timer("at", "case.discharge_date")
    result = due(t, case={"discharge_date": "2026-07-10"})
    assert result == datetime(2026, 7, 10, 4, 0, tzinfo=UTC)  # 00:00 EDT


def test_at_adds_the_offset_in_local_calendar_days() -> None:
    t = timer("at", "case.discharge_date", offset="P7D")
    result = due(t, case={"discharge_date": "2026-03-05"})
    assert result.astimezone(zone(NY)).replace(tzinfo=None) == datetime(2026, 3, 12, 0, 0)


def test_at_can_use_params_and_now() -> None:
    d = definition(timezone=NY, parameters={"grace": "P2D"})
    t = timer("at", "now + duration('48h')")
    assert due(t, d=d) == NOW + timedelta(hours=48)
    t2 = timer("at", "params.review_day")
    d2 = definition(timezone="UTC", parameters={"review_day": "2026-04-01"})
    assert due(t2, d=d2) == datetime(2026, 4, 1, tzinfo=UTC)


@pytest.mark.parametrize("case", [{}, {"discharge_date": None}, {"discharge_date": ""}])
def test_at_without_a_value_is_not_armed(case: dict[str, object]) -> None:
    assert due(timer("at", "case.discharge_date"), case=case) is None


def test_at_missing_nested_field_is_not_armed() -> None:
    assert due(timer("at", "case.discharge.date"), case={"other": 1}) is None


@pytest.mark.parametrize("value", ["next tuesday", 42, ["2026-01-01"]])
def test_at_rejects_values_that_are_not_instants_without_echoing_them(value: object) -> None:
    with pytest.raises(ExpressionError) as info:
        due(timer("at", "case.when"), case={"when": value})
    assert "tuesday" not in str(info.value)
    assert "42" not in str(info.value)
    assert "'t'" in str(info.value)  # the timer name


def test_at_expression_errors_other_than_missing_fields_propagate() -> None:
    with pytest.raises(ExpressionError):
        due(timer("at", "case.n / 0"), case={"n": 1})


def test_naive_entered_at_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        due(timer("after", "P1D"), entered_at=datetime(2026, 1, 5, 9))


# -- recurrence -----------------------------------------------------------------------


def test_recurrence_on_time_is_the_next_cadence_point() -> None:
    t = timer("every", "P7D")
    prev = NOW
    assert next_recurrence(t, previous_due=prev, now=prev, definition=definition(timezone=NY)) == (
        prev + timedelta(days=7),
        0,
    )


def test_recurrence_after_downtime_catches_up_once_then_returns_to_cadence() -> None:
    t = timer("every", "P7D")
    prev = NOW
    # The firing due on day 0 happens late, on day 23: it is the one catch-up
    # firing; the cadence points of days 7, 14 and 21 are skipped.
    now = prev + timedelta(days=23)
    nxt, skipped = next_recurrence(t, previous_due=prev, now=now, definition=definition())
    assert nxt == prev + timedelta(days=28)
    assert skipped == 3


def test_recurrence_at_exactly_a_cadence_point_is_strictly_after_now() -> None:
    t = timer("every", "P1D")
    nxt, skipped = next_recurrence(
        t, previous_due=NOW, now=NOW + timedelta(days=2), definition=definition()
    )
    assert nxt == NOW + timedelta(days=3)
    assert skipped == 2  # day 1 and day 2 (== now) are not in the future


def test_recurrence_catch_up_all_fires_every_missed_period() -> None:
    t = timer("every", "P7D", catch_up="all")
    now = NOW + timedelta(days=30)
    assert next_recurrence(t, previous_due=NOW, now=now, definition=definition()) == (
        NOW + timedelta(days=7),
        0,
    )


def test_monthly_recurrence_keeps_the_month_end_clamp() -> None:
    t = timer("every", "P1M")
    jan31 = datetime(2026, 1, 31, 9, tzinfo=UTC)
    feb, _ = next_recurrence(t, previous_due=jan31, now=jan31, definition=definition())
    mar, _ = next_recurrence(t, previous_due=feb, now=feb, definition=definition())
    assert (feb.date(), mar.date()) == (date(2026, 2, 28), date(2026, 3, 28))


def test_recurrence_of_a_one_shot_timer_is_an_error() -> None:
    with pytest.raises(ValueError, match="does not recur"):
        next_recurrence(timer("after", "P1D"), previous_due=NOW, now=NOW, definition=definition())


@settings(max_examples=300, deadline=None)
@given(
    text=st.sampled_from(["PT15M", "PT1H", "P1D", "P7D", "P1M", "P3M", "P1Y", "P1DT6H"]),
    downtime_minutes=st.integers(min_value=-600, max_value=3 * 365 * 24 * 60),
    tz_name=st.sampled_from([NY, "Europe/Berlin", "UTC"]),
)
def test_catch_up_once_is_the_first_cadence_point_after_now(
    text: str, downtime_minutes: int, tz_name: str
) -> None:
    t = timer("every", text)
    d = definition(timezone=tz_name)
    now = NOW + timedelta(minutes=downtime_minutes)
    nxt, skipped = next_recurrence(t, previous_due=NOW, now=now, definition=d)
    tz = zone(tz_name)
    assert nxt > now
    assert nxt == add_duration(NOW, parse_duration(text), tz, times=skipped + 1)
    if skipped:
        assert add_duration(NOW, parse_duration(text), tz, times=skipped) <= now
    assert skipped >= 0
