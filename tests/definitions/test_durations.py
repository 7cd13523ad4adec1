from __future__ import annotations

import pytest

from engine.definitions.durations import parse_duration
from engine.definitions.model import Duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P14D", Duration("P14D", days=14)),
        ("P1M", Duration("P1M", months=1)),
        ("PT72H", Duration("PT72H", hours=72)),
        ("P1Y2M3W4DT5H6M7S", Duration("P1Y2M3W4DT5H6M7S", 1, 2, 3, 4, 5, 6, 7)),
        ("PT30M", Duration("PT30M", minutes=30)),
    ],
)
def test_parse_iso_durations(text: str, expected: Duration):
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "P", "PT", "P1DT", "14D", "P1.5D", "P-1D", "p1d", "P0D", "PT0S", "P1H", " P1D"]
)
def test_reject_malformed_or_zero_durations(text: str):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_month_is_a_calendar_unit_not_minutes():
    assert parse_duration("P1M").months == 1
    assert parse_duration("PT1M").minutes == 1
