"""ISO 8601 durations (``P14D``, ``P1M``, ``PT72H``, ``P1Y2M3DT4H``) -> :class:`Duration`."""

from __future__ import annotations

import re

from engine.definitions.diagnostics import shown
from engine.definitions.model import Duration

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)
_MAX_PART = 100_000


def is_duration_syntax(text: str) -> bool:
    """True when ``text`` is written as an ISO 8601 duration (it may still be zero)."""
    return isinstance(text, str) and _DURATION.match(text) is not None


def is_offset_syntax(text: str) -> bool:
    """True when ``text`` is a duration, or one with a leading ``-`` (an offset before)."""
    return isinstance(text, str) and is_duration_syntax(text.removeprefix("-"))


def parse_offset(text: str) -> Duration:
    """Parse an ``offset``: a duration, or ``-`` and a duration (every part negated,
    e.g. ``-P1D`` for the day before an instant); raises ValueError."""
    if isinstance(text, str) and text.startswith("-"):
        d = parse_duration(text[1:])
        return Duration(
            text=text,
            years=-d.years,
            months=-d.months,
            weeks=-d.weeks,
            days=-d.days,
            hours=-d.hours,
            minutes=-d.minutes,
            seconds=-d.seconds,
        )
    return parse_duration(text)


def parse_duration(text: str) -> Duration:
    """Parse an ISO 8601 duration with integer parts; raises ValueError.

    Fractions and negative durations are not supported; a duration must not
    be zero (``P0D``) since a timer due immediately is almost always a typo.
    """
    if not isinstance(text, str):
        raise ValueError("a duration must be a string such as P14D")
    m = _DURATION.match(text)
    if m is None:
        raise ValueError(
            f"{shown(text)} is not an ISO 8601 duration (examples: P14D, P1M, PT72H, P1Y2M)"
        )
    parts = {k: int(v) for k, v in m.groupdict().items() if v is not None}
    if any(v > _MAX_PART for v in parts.values()):
        raise ValueError(f"{shown(text)} is unreasonably long")
    if not any(parts.values()):
        raise ValueError(f"{shown(text)} is a zero duration")
    return Duration(text=text, **parts)
