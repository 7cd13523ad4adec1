"""Case clocks and named calendars in the language: IR, JSON round trip, calendar rules."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from engine.definitions import check_paths, load_workflow
from engine.definitions.clocks import ClockKind
from engine.definitions.model import Phase, TimerKind
from engine.store.codec import definition_from_json, definition_to_json
from engine.timing.calendar import BusinessCalendar, business_calendar
from engine.timing.due import first_due

REVIEW = Path(__file__).resolve().parent.parent / "fixtures" / "clocks" / "review.yaml"


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    text = REVIEW.read_text()
    assert old in text
    path = tmp_path / "variant.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


def test_clock_is_built_with_its_triggers_anchor_and_duration():
    d = load_workflow(REVIEW)
    (clock,) = d.clocks
    assert clock.name == "review"
    assert clock.kind is ClockKind.DEADLINE
    assert clock.timing is TimerKind.AFTER
    assert clock.after is not None
    assert clock.after.days == 30
    assert clock.start.events == ("assessed",)
    assert clock.stop.phases == (Phase.CLOSURE,)
    assert clock.anchor == "case.assessed_on"
    assert d.clock("review") is clock
    assert clock.location is not None
    assert clock.location.line == 21


def test_watchdog_within_becomes_an_after_duration_with_reset_events(tmp_path: Path):
    path = _variant(
        tmp_path,
        "    after: P30D\n",
        "    kind: watchdog\n    within: P1M\n    reset_on: [planned, delivered]\n"
        "    pausable: true\n",
    )
    (clock,) = load_workflow(path).clocks
    assert clock.watchdog
    assert clock.pausable
    assert clock.timing is TimerKind.AFTER
    assert clock.after is not None
    assert clock.after.months == 1
    assert clock.reset_on == ("planned", "delivered")


def test_named_calendar_weekend_categories_and_removed_holidays_are_kept(tmp_path: Path):
    path = _variant(
        tmp_path,
        "    weekend: [sat, sun]\n",
        "    weekend: [fri, sat]\n    categories: [public]\n"
        '    removed_holidays: ["2026-11-26"]\n    extra_holidays: ["2026-12-24"]\n',
    )
    cal = load_workflow(path).calendars["federal"]
    assert cal.weekend == (4, 5)
    assert cal.categories == ("public",)
    assert cal.removed_holidays == ("2026-11-26",)
    bc = business_calendar(cal, "UTC")
    assert not bc.is_business_day(date(2026, 12, 4))  # a Friday
    assert bc.is_business_day(date(2026, 12, 6))  # a Sunday
    assert bc.is_business_day(date(2026, 11, 26))  # Thanksgiving, worked
    assert not bc.is_business_day(date(2026, 12, 24))  # an extra closed day


def test_definitions_with_clocks_round_trip_through_json():
    d = load_workflow(REVIEW)
    assert definition_from_json(definition_to_json(d), d.source_text) == d


def test_definitions_stored_before_clocks_read_back_without_them():
    d = load_workflow(REVIEW)
    data = definition_to_json(d)
    for key in ("clocks", "calendars"):
        del data[key]
    for key in ("categories", "weekend", "removed_holidays"):
        del data["calendar"][key]
    back = definition_from_json(data, d.source_text)
    assert back.clocks == ()
    assert back.calendars == {}
    assert back.calendar.weekend == (5, 6)


def test_timer_calendar_chooses_the_named_calendar(tmp_path: Path):
    path = _variant(
        tmp_path,
        "  assess:\n    phase: assessment\n    description: Assessing.\n",
        "  assess:\n    phase: assessment\n    description: Assessing.\n    timers:\n"
        "      - name: nudge\n        event: review_due\n        business_days: 1\n"
        "        calendar: hospital\n",
    )
    path.write_text(
        path.read_text().replace(
            "calendars:\n", "calendars:\n  hospital:\n    country: US\n    weekend: [sun]\n", 1
        )
    )
    d = load_workflow(path)
    (timer,) = d.states["assess"].timers
    assert timer.calendar == "hospital"
    friday = datetime(2026, 12, 4, 9, tzinfo=UTC)
    due = first_due(timer, entered_at=friday, definition=d, case={}, now=friday)
    assert due == datetime(2026, 12, 5, 9, tzinfo=UTC)  # Saturday is a working day


def test_unknown_timer_calendar_is_located(tmp_path: Path):
    path = _variant(
        tmp_path,
        "  assess:\n    phase: assessment\n    description: Assessing.\n",
        "  assess:\n    phase: assessment\n    description: Assessing.\n    timers:\n"
        "      - name: nudge\n        event: review_due\n        business_days: 1\n"
        "        calendar: nowhere\n",
    )
    (diag,) = check_paths([path]).errors
    assert (diag.code, diag.json_path) == ("unknown-calendar", "$.states.assess.timers[0].calendar")


def test_a_calendar_without_working_days_is_refused():
    with pytest.raises(ValueError, match="weekend"):
        BusinessCalendar("US", weekend=(0, 1, 2, 3, 4, 5, 6))
