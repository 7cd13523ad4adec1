"""Local-time arithmetic for deadlines: durations, business days, time zones.

Every instant going in and coming out is timezone-aware UTC. The arithmetic
happens in the workflow's IANA time zone (``zoneinfo``):

* **Calendar parts** of a duration (years, months, weeks, days) move the
  local *wall-clock* date: ``P1D`` from 09:00 on the Saturday before a
  daylight-saving change is 09:00 on the Sunday, whatever the UTC offset did.
  Years and months clamp to the end of a shorter month: Jan 31 + ``P1M`` is
  Feb 28 (Feb 29 in a leap year); Feb 29 + ``P1Y`` is Feb 28.
* **Clock parts** (hours, minutes, seconds) are exact elapsed time, added
  after the calendar parts: ``PT24H`` across a change is 23 or 25 hours of
  wall clock, ``P1DT2H`` is "same time tomorrow, then two hours later".
* **Business days** skip the calendar's weekend (Saturday and Sunday unless
  it says otherwise), the holidays of its country/subdivision (the
  ``holidays`` package, observed days included, of the calendar's categories)
  and its extra holidays, minus the holidays it removes (days the
  organisation works), and keep the local time of day.

When a local wall-clock time does not exist or exists twice, the rule is
zoneinfo's ``fold=0`` (PEP 495), applied every time, so results are
deterministic:

* *nonexistent* (spring forward, e.g. 02:30 on 2026-03-08 in New York):
  interpreted with the offset before the change, i.e. moved forward by the
  length of the gap (02:30 -> 03:30 EDT);
* *ambiguous* (fall back, e.g. 01:30 on 2026-11-01 in New York): the first
  occurrence, the earlier instant (01:30 EDT, not 01:30 EST).
"""

from __future__ import annotations

import calendar as _stdcal
import threading
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as _holidays

from engine.definitions.model import Calendar, Duration

__all__ = [
    "BusinessCalendar",
    "add_calendar_parts",
    "add_duration",
    "business_calendar",
    "localize",
    "zone",
]

_WEEKEND = (5, 6)  # Saturday, Sunday
_MAX_BUSINESS_DAYS = 100_000


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; raises ValueError if it is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {name!r}") from None


def _require_aware(instant: datetime, what: str) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware instant")


def localize(wall: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant of naive local wall time ``wall`` in ``tz`` (fold=0 rule).

    Nonexistent times move forward by the gap; ambiguous times take the first
    occurrence (see the module docstring).
    """
    if wall.tzinfo is not None:
        raise ValueError("localize takes a naive wall-clock time")
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)


def _add_months(d: date, months: int) -> date:
    """``d`` plus ``months`` calendar months, clamped to the end of the month."""
    index = d.year * 12 + (d.month - 1) + months
    year, month0 = divmod(index, 12)
    last = _stdcal.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(d.day, last))


def add_calendar_parts(
    start: datetime, *, years: int = 0, months: int = 0, days: int = 0, tz: ZoneInfo
) -> datetime:
    """Move ``start`` (aware) by whole calendar units in ``tz``; returns UTC.

    The local wall-clock time of day is kept (subject to the fold=0 rule when
    it does not exist or is ambiguous on the target date).
    """
    _require_aware(start, "start")
    local = start.astimezone(tz)
    d = local.date()
    if years or months:
        d = _add_months(d, years * 12 + months)
    if days:
        d = d + timedelta(days=days)
    wall = datetime.combine(d, local.time().replace(tzinfo=None, fold=0))
    return localize(wall, tz)


def add_duration(start: datetime, duration: Duration, tz: ZoneInfo, *, times: int = 1) -> datetime:
    """``start`` plus ``times`` x ``duration``: calendar parts in ``tz``, then clock parts.

    ``times`` multiplies each part before adding (``add_duration(t, P1M,
    times=3)`` is t + P3M, not three clamped steps), which is how recurring
    timers avoid accumulating month-end drift within one computation.
    """
    _require_aware(start, "start")
    if times < 0:
        raise ValueError("times must not be negative")
    out = start.astimezone(UTC)
    calendar_days = (duration.weeks * 7 + duration.days) * times
    if duration.years or duration.months or calendar_days:
        out = add_calendar_parts(
            out,
            years=duration.years * times,
            months=duration.months * times,
            days=calendar_days,
            tz=tz,
        )
    clock = timedelta(hours=duration.hours, minutes=duration.minutes, seconds=duration.seconds)
    return out + clock * times


class BusinessCalendar:
    """Working days of one jurisdiction in one time zone.

    Thread-safe: holiday sets are computed per year under a lock and cached.
    """

    def __init__(
        self,
        country: str = "US",
        subdivision: str | None = None,
        extra_holidays: tuple[str, ...] | tuple[date, ...] = (),
        timezone: str = "UTC",
        *,
        categories: tuple[str, ...] = (),
        weekend: tuple[int, ...] = _WEEKEND,
        removed_holidays: tuple[str, ...] | tuple[date, ...] = (),
    ) -> None:
        self.country = country
        self.subdivision = subdivision
        self.tz = zone(timezone)
        self.timezone = timezone
        self.categories = tuple(categories)
        if any(not 0 <= d <= 6 for d in weekend) or len(set(weekend)) > 6:
            raise ValueError("weekend must be 0 to 6 distinct weekdays (Monday is 0)")
        self.weekend = frozenset(weekend)
        self.extra_holidays = _dates(extra_holidays, "extra_holidays")
        self.removed_holidays = _dates(removed_holidays, "removed_holidays")
        try:
            self._public(years=())
        except NotImplementedError:
            raise ValueError(
                f"no holiday calendar for country {country!r}"
                + (f" subdivision {subdivision!r}" if subdivision else "")
            ) from None
        self._years: dict[int, frozenset[date]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_definition(cls, cal: Calendar, timezone: str) -> BusinessCalendar:
        return cls(
            cal.country,
            cal.subdivision,
            tuple(cal.extra_holidays),
            timezone,
            categories=tuple(cal.categories),
            weekend=tuple(cal.weekend),
            removed_holidays=tuple(cal.removed_holidays),
        )

    def _public(self, years: Any) -> Any:
        if self.categories:
            return _holidays.country_holidays(
                self.country, subdiv=self.subdivision, years=years, categories=self.categories
            )
        return _holidays.country_holidays(self.country, subdiv=self.subdivision, years=years)

    def _holidays_of(self, year: int) -> frozenset[date]:
        cached = self._years.get(year)
        if cached is not None:
            return cached
        with self._lock:
            cached = self._years.get(year)
            if cached is None:
                public = self._public(years=year)
                cached = (
                    frozenset(d for d in public if d.year == year)
                    | frozenset(d for d in self.extra_holidays if d.year == year)
                ) - self.removed_holidays
                self._years[year] = cached
            return cached

    def is_holiday(self, d: date) -> bool:
        return d in self._holidays_of(d.year)

    def is_business_day(self, d: date) -> bool:
        return d.weekday() not in self.weekend and not self.is_holiday(d)

    def add_business_days(self, start_utc: datetime, n: int) -> datetime:
        """The instant ``n`` business days after ``start_utc``, same local time of day.

        Counting starts on the local day after ``start_utc``'s local date; each
        business day counts one, non-business days are skipped. ``n == 0``
        returns ``start_utc`` unchanged. Result in UTC (fold=0 rule for local
        times that do not exist or are ambiguous on the target date).
        """
        _require_aware(start_utc, "start_utc")
        if n < 0:
            raise ValueError("business days must not be negative")
        if n > _MAX_BUSINESS_DAYS:
            raise ValueError("business days unreasonably large")
        if n == 0:
            return start_utc.astimezone(UTC)
        if len(self.weekend) >= 7:  # pragma: no cover - the constructor refuses it
            raise ValueError("a calendar without working days")
        local = start_utc.astimezone(self.tz)
        d = local.date()
        remaining = n
        while remaining:
            d += timedelta(days=1)
            if self.is_business_day(d):
                remaining -= 1
        wall = datetime.combine(d, local.time().replace(tzinfo=None, fold=0))
        return localize(wall, self.tz)

    def local_midnight(self, d: date) -> datetime:
        """The UTC instant of 00:00 local time on ``d`` (fold=0 rule)."""
        return localize(datetime.combine(d, time()), self.tz)


def _dates(items: tuple[str, ...] | tuple[date, ...], what: str) -> frozenset[date]:
    out: set[date] = set()
    for item in items:
        if isinstance(item, date):
            out.add(item)
        else:
            try:
                out.add(date.fromisoformat(item))
            except ValueError:
                raise ValueError(f"{what} must be ISO dates (YYYY-MM-DD)") from None
    return frozenset(out)


@lru_cache(maxsize=128)
def _cached_calendar(cal: Calendar, timezone: str) -> BusinessCalendar:
    return BusinessCalendar.from_definition(cal, timezone)


def business_calendar(cal: Calendar, timezone: str) -> BusinessCalendar:
    """A shared (cached) :class:`BusinessCalendar` for a calendar (default or named) and zone."""
    return _cached_calendar(cal, timezone)
