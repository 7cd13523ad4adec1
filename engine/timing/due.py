"""When a timer is due: the pure functions the engine calls when it arms timers.

Both functions are pure (no I/O, no clock): the engine passes ``entered_at``
and ``now`` from its injected clock. Instants are timezone-aware UTC in and
out; the local arithmetic (calendar durations, business days, ``at`` dates)
happens in the workflow's time zone, see :mod:`engine.timing.calendar`
for the daylight-saving and month-end rules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from engine.definitions.model import CatchUp, Timer, TimerKind, WorkflowDefinition
from engine.timing.calendar import add_duration, business_calendar, localize, zone

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

__all__ = ["first_due", "next_recurrence", "parse_at_value", "resume_due"]

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _utc(instant: datetime, what: str) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware instant")
    return instant.astimezone(UTC)


def _expression_error(message: str) -> Exception:
    from engine.definitions.expressions import ExpressionError

    return ExpressionError(message)


CASE_TIMEZONE_FIELD = "timezone"
"""A case record field that, when it holds an IANA zone name, overrides the workflow's zone."""


def timezone_of(definition: WorkflowDefinition, case: Mapping[str, Any] | None = None) -> str:
    """The IANA zone a case's deadlines are computed in.

    The case record's ``timezone`` field when it holds a zone name (a client
    living in another zone than the program), else the workflow's
    ``timezone``. The engine checks the field names a known zone whenever the
    record is validated, so an unknown zone never reaches a timer.
    """
    if case is not None:
        value = case.get(CASE_TIMEZONE_FIELD)
        if isinstance(value, str) and value:
            return value
    return definition.timezone


def first_due(
    timer: Timer,
    *,
    entered_at: datetime,
    definition: WorkflowDefinition,
    case: Mapping[str, Any],
    now: datetime,
    item: Mapping[str, Any] | None = None,
) -> datetime | None:
    """The UTC instant ``timer`` is first due after its state was entered at ``entered_at``.

    ``after``: calendar parts in the workflow's zone (DST-safe), clock parts
    exact. ``business_days``: the workflow calendar's working days, same local
    time of day. ``every``: ``entered_at + every``. ``at``: the CEL expression
    over ``case``/``params``/``now`` (``event`` is ``{}``; ``item`` too for a work
    item's timer), plus ``offset``.

    Returns None when an ``at`` expression has no value (the field it reads is
    absent or null): the timer is then not armed. Raises
    :class:`~engine.definitions.expressions.ExpressionError` when the
    expression fails otherwise or returns something that is not an instant,
    and ValueError for a timer without the part its kind needs.
    """
    entered = _utc(entered_at, "entered_at")
    tzname = timezone_of(definition, case)
    tz = zone(tzname)
    kind = timer.kind
    if kind is TimerKind.AFTER:
        return add_duration(entered, _need(timer.after, timer, "after"), tz)
    if kind is TimerKind.EVERY:
        return add_duration(entered, _need(timer.every, timer, "every"), tz)
    if kind is TimerKind.BUSINESS_DAYS:
        n = _need(timer.business_days, timer, "business_days")
        cal = business_calendar(definition.calendar_named(timer.calendar), tzname)
        return cal.add_business_days(entered, n)
    if kind is TimerKind.AT:
        source = _need(timer.at, timer, "at")
        value = _evaluate_at(source, timer, definition, case, _utc(now, "now"), item)
        if value is None:
            return None
        instant = parse_at_value(value, tz, timer_name=timer.name)
        if instant is None:
            return None
        if timer.offset is not None:
            instant = add_duration(instant, timer.offset, tz)
        return instant
    raise ValueError(f"timer {timer.name!r} has unknown kind {kind!r}")


def next_recurrence(
    timer: Timer,
    *,
    previous_due: datetime,
    now: datetime,
    definition: WorkflowDefinition,
    case: Mapping[str, Any] | None = None,
) -> tuple[datetime, int]:
    """For an ``every`` timer that just fired: (next due instant, periods missed and skipped).

    The cadence points are ``previous_due + k * every`` (k = 1, 2, ...), with
    calendar parts in the case's zone (:func:`timezone_of`). ``catch_up: once`` returns the first
    cadence point strictly after ``now`` and how many points before it were
    skipped (0 when the worker was on time); ``catch_up: all`` returns
    ``previous_due + every`` and 0, so every missed period fires in turn.

    Month-end: each firing steps from the previous due instant, so a monthly
    timer first due on Jan 31 is next due Feb 28, then Mar 28 (the clamp is
    kept). Raises ValueError if ``timer`` is not an ``every`` timer.
    """
    every = timer.every
    if timer.kind is not TimerKind.EVERY or every is None:
        raise ValueError(f"timer {timer.name!r} does not recur")
    prev = _utc(previous_due, "previous_due")
    current = _utc(now, "now")
    tz = zone(timezone_of(definition, case))
    if timer.catch_up is CatchUp.ALL:
        return add_duration(prev, every, tz), 0

    def point(k: int) -> datetime:
        return add_duration(prev, every, tz, times=k)

    k = 1
    elapsed = (current - prev).total_seconds()
    if elapsed > 0 and every.approx_seconds > 0:
        k = max(1, int(elapsed // every.approx_seconds))
    while k > 1 and point(k - 1) > current:
        k -= 1
    while point(k) <= current:
        k += 1
    return point(k), k - 1


def resume_due(
    timer: Timer,
    *,
    due_at: datetime,
    paused_at: datetime,
    resumed_at: datetime,
    definition: WorkflowDefinition,
    case: Mapping[str, Any] | None = None,
) -> datetime:
    """Where a paused timer is due when its case resumes, keeping local-time meaning.

    ``business_days``: the business days that were still ahead at the pause
    (after the pause's local date, up to and including the due date) are
    counted again from the resume's local date, at the due instant's local
    time of day; so a deadline never resumes onto a weekend or holiday.
    Other kinds: the wall-clock time that was left (local due - local pause)
    is added to the local resume time, so a daylight-saving change during the
    hold moves nothing by an hour. Never earlier than ``resumed_at``; resuming
    at the instant of the pause gives ``due_at`` back.
    """
    due = _utc(due_at, "due_at")
    paused = _utc(paused_at, "paused_at")
    resumed = _utc(resumed_at, "resumed_at")
    tzname = timezone_of(definition, case)
    tz = zone(tzname)
    due_local = due.astimezone(tz)
    paused_local = paused.astimezone(tz)
    resumed_local = resumed.astimezone(tz)
    if timer.kind is TimerKind.BUSINESS_DAYS:
        cal = business_calendar(definition.calendar_named(timer.calendar), tzname)
        left = 0
        d = paused_local.date()
        while d < due_local.date():
            d += timedelta(days=1)
            if cal.is_business_day(d):
                left += 1
        target = resumed_local.date()
        while left or not cal.is_business_day(target):
            target += timedelta(days=1)
            if cal.is_business_day(target):
                left = max(0, left - 1)
                if left == 0:
                    break
        wall = datetime.combine(target, due_local.time().replace(tzinfo=None, fold=0))
        result = localize(wall, tz)
    else:
        remaining = due_local.replace(tzinfo=None) - paused_local.replace(tzinfo=None)
        result = localize(resumed_local.replace(tzinfo=None, fold=0) + remaining, tz)
    if resumed == paused:
        return due
    return max(result, resumed)


# -- `at` timers -----------------------------------------------------------------------


def _need(value: Any, timer: Timer, part: str) -> Any:
    if value is None:
        raise ValueError(f"timer {timer.name!r} of kind {timer.kind.value} has no {part!r}")
    return value


def _evaluate_at(
    source: str,
    timer: Timer,
    definition: WorkflowDefinition,
    case: Mapping[str, Any],
    now: datetime,
    item: Mapping[str, Any] | None = None,
) -> Any:
    # Imported lazily: the expressions module needs the CEL extension.
    from engine.definitions.expressions import ExpressionError, compile_expression

    expr = compile_expression(source)
    try:
        return expr.evaluate(case=case, event={}, params=definition.parameters, now=now, item=item)
    except ExpressionError as exc:
        # A field the expression reads is absent: the timer has no due instant yet.
        if isinstance(exc.__context__, KeyError):
            return None
        raise ExpressionError(f"timer {timer.name!r}: {exc}") from None


def parse_at_value(value: Any, tz: ZoneInfo, *, timer_name: str = "") -> datetime | None:
    """Turn what an ``at`` expression returned into a UTC instant.

    Accepts a timestamp (aware datetime), a ``date``, an RFC 3339 string
    (``2026-03-01T10:00:00Z``, ``...+01:00``) or an ISO date (``2026-03-01``),
    which means local midnight in ``tz``. A datetime or string without an
    offset is read as local wall time in ``tz``. None (null) and ``""`` give
    None. Anything else raises ExpressionError (the message has no value).
    """
    where = f"timer {timer_name!r}: " if timer_name else ""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            return localize(value, tz)
        return value.astimezone(UTC)
    if isinstance(value, date):
        return localize(datetime(value.year, value.month, value.day), tz)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if _ISO_DATE.match(text):
            try:
                d = date.fromisoformat(text)
            except ValueError:
                raise _expression_error(f"{where}`at` returned an invalid ISO date") from None
            return localize(datetime(d.year, d.month, d.day), tz)
        try:
            parsed = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            raise _expression_error(
                f"{where}`at` returned a string that is not an RFC 3339 timestamp or ISO date"
            ) from None
        if parsed.tzinfo is None:
            return localize(parsed, tz)
        return parsed.astimezone(UTC)
    raise _expression_error(
        f"{where}`at` returned a {type(value).__name__}, not a timestamp or date string"
    )
