"""Shared rendering for CLI commands: aligned tables for people, JSON for scripts.

Other command modules may import it. Tables go to stdout; progress and
errors to stderr, so ``--json`` output stays parseable.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO


def print_json(data: Any, *, out: TextIO | None = None) -> None:
    """Pretty JSON, keys in a stable order, datetimes as ISO 8601."""
    out = out or sys.stdout
    json.dump(data, out, indent=2, sort_keys=True, default=_default, ensure_ascii=False)
    out.write("\n")


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def cell(value: Any) -> str:
    """How one value looks in a table cell."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, list | tuple):
        return ", ".join(cell(v) for v in value) or "-"
    return str(value)


def table(
    rows: Iterable[Sequence[Any]],
    headers: Sequence[str],
    *,
    out: TextIO | None = None,
    max_width: int | None = None,
) -> None:
    """An aligned plain-text table; at a terminal, long cells are cut to fit it."""
    out = out or sys.stdout
    text_rows = [[cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in text_rows:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], len(value))
    # Cut cells only for a person at a terminal, and never the first column (ids).
    limit = max_width
    if limit is None and out.isatty():
        limit = shutil.get_terminal_size((120, 24)).columns
    if limit is not None and len(widths) > 1:
        while sum(widths) + 2 * (len(widths) - 1) > limit and max(widths[1:]) > 12:
            i = 1 + widths[1:].index(max(widths[1:]))
            widths[i] -= 1

    def line(values: Sequence[str]) -> str:
        parts = []
        for value, width in zip(values, widths, strict=True):
            shown = value if len(value) <= width else value[: max(width - 1, 0)] + "…"
            parts.append(shown.ljust(width))
        return "  ".join(parts).rstrip()

    out.write(line(list(headers)) + "\n")
    out.write(line(["-" * w for w in widths]) + "\n")
    for row in text_rows:
        out.write(line(row) + "\n")
    if not text_rows:
        out.write("(none)\n")


def fields(pairs: Sequence[tuple[str, Any]], *, out: TextIO | None = None) -> None:
    """``label: value`` lines, labels aligned."""
    out = out or sys.stdout
    width = max((len(k) for k, _ in pairs), default=0)
    for key, value in pairs:
        out.write(f"{key.ljust(width)}  {cell(value)}\n")


def heading(text: str, *, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    out.write(f"\n{text}\n{'=' * len(text)}\n")


def human_delta(delta: timedelta) -> str:
    """``3d 4h``, ``45m``, ``in 2h``-style lengths (sign not included)."""
    seconds = int(abs(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m"


def relative(instant: datetime | None, now: datetime) -> str:
    """``in 3d 4h`` / ``5h ago`` relative to ``now``."""
    if instant is None:
        return "-"
    delta = instant - now
    if delta.total_seconds() >= 0:
        return f"in {human_delta(delta)}"
    return f"{human_delta(delta)} ago"


def progress(message: str, *, err: TextIO | None = None) -> None:
    """A progress line on stderr (stdout stays clean for ``--json``)."""
    err = err or sys.stderr
    err.write(message + "\n")
    err.flush()


def error(message: str, *, err: TextIO | None = None) -> None:
    err = err or sys.stderr
    err.write(f"casework: error: {message}\n")
