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
