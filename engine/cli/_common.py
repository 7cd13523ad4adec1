"""What the command modules share: options, opening the engine, exit codes, output.

Exit codes: ``EXIT_OK`` (0) success, ``EXIT_FAILED`` (1) the operation failed
or the thing checked is invalid, ``EXIT_USAGE`` (2) a command-line value that
cannot be used (:class:`UsageError`). Tables and JSON go to stdout; progress
and errors to stderr, so ``--json`` output stays parseable. Nothing printed
here contains case data unless the command asks for a record.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO, TypeVar

from engine.errors import EngineError

if TYPE_CHECKING:
    from engine.runtime.engine import Engine
    from engine.runtime.views import Page

T = TypeVar("T")


class _View(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


V = TypeVar("V", bound=_View)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

DEFAULT_DATABASE_URL = "sqlite:///casework.db"
PAGE_SIZE = 200


class UsageError(Exception):
    """A command-line value that cannot be used (exit code 2)."""


# -- options -------------------------------------------------------------------------


def database_url_default() -> str:
    return os.environ.get("CASEWORK_DATABASE_URL", DEFAULT_DATABASE_URL)


def add_database_url(parser: argparse.ArgumentParser) -> None:
    """``--database-url``, defaulting to $CASEWORK_DATABASE_URL, else SQLite in the cwd."""
    parser.add_argument(
        "--database-url",
        default=database_url_default(),
        # Not %(default)s: the environment's URL may carry a password.
        help=f"SQLAlchemy URL (env CASEWORK_DATABASE_URL; default {DEFAULT_DATABASE_URL})",
    )


def add_database_options(parser: argparse.ArgumentParser) -> None:
    """``--database-url`` and ``--workflows`` (every command that opens the engine)."""
    add_database_url(parser)
    parser.add_argument(
        "--workflows",
        action="append",
        metavar="DIR",
        default=None,
        help="workflow files or folders (repeatable; default: the bundled workflows)",
    )


def default_actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}"


def add_operator_options(p: argparse.ArgumentParser, *, actor: bool = False) -> None:
    """The database options and ``--json``; with ``actor``, ``--actor`` for audited commands."""
    add_database_options(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    if actor:
        p.add_argument(
            "--actor", default=default_actor(), help="who does this (default %(default)s)"
        )


def workflow_paths(args: argparse.Namespace) -> list[Path] | None:
    """``--workflows`` as paths; None for the bundled workflows."""
    return [Path(p) for p in args.workflows] if args.workflows else None


# -- running a command against the engine ----------------------------------------------


def open_engine(
    args: argparse.Namespace, *, must_exist: bool = True, stored_definitions: bool = False
) -> Engine:
    """The engine for ``args``; an SQLite file must already exist unless told otherwise.

    With ``stored_definitions`` (commands that look at cases, changing none) and no
    ``--workflows``, the definitions stored in the database are used: no workflow
    file is read, checked or registered (the checkers and their imports were most
    of such a command's start-up).
    """
    import sqlalchemy as sa

    from engine.runtime.engine import Engine

    url = str(args.database_url)
    parsed = sa.engine.make_url(url)
    db_file = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if must_exist and db_file and db_file != ":memory:" and not Path(db_file).exists():
        raise EngineError(
            f"no database at {db_file}; start `casework serve` first or pass --database-url"
        )
    paths = workflow_paths(args)
    return Engine.open(url, workflows=() if stored_definitions and paths is None else paths)


def run(
    args: argparse.Namespace,
    body: Callable[[Engine], int],
    *,
    stored_definitions: bool = False,
    must_exist: bool = True,
) -> int:
    """Open the engine, run ``body``, close; engine errors exit 1, usage errors 2.

    ``must_exist`` False lets the command create an SQLite database (``casework import``
    into a new one)."""
    try:
        with open_engine(
            args, must_exist=must_exist, stored_definitions=stored_definitions
        ) as engine:
            return body(engine)
    except EngineError as exc:
        return fail(args, exc)
    except UsageError as exc:
        error(str(exc))
        return EXIT_USAGE


def guarded(cmd: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn a UsageError raised while reading arguments into exit code 2."""

    def wrapper(args: argparse.Namespace) -> int:
        try:
            return cmd(args)
        except UsageError as exc:
            error(str(exc))
            return EXIT_USAGE

    wrapper.__name__ = cmd.__name__
    wrapper.__doc__ = cmd.__doc__
    return wrapper


def fail(args: argparse.Namespace, exc: EngineError) -> int:
    """The error on stderr (and, with ``--json``, its ``to_dict()`` on stdout); exit 1."""
    error(exc.message)
    if getattr(args, "json", False):
        print_json(exc.to_dict())
    return EXIT_FAILED


def collect(fetch: Callable[[str | None, int], Page[T]], limit: int, what: str) -> list[T]:
    """Follow cursors until ``limit`` items; progress on stderr for long listings."""
    items: list[T] = []
    cursor: str | None = None
    pages = 0
    while len(items) < limit:
        page = fetch(cursor, min(PAGE_SIZE, limit - len(items)))
        items.extend(page.items)
        pages += 1
        if pages > 1:
            progress(f"... {len(items)} {what} so far")
        cursor = page.next_cursor
        if cursor is None:
            break
    return items


def collect_page(
    fetch: Callable[[str | None, int, bool], Page[T]],
    limit: int | None,
    what: str,
    cursor: str | None = None,
) -> tuple[list[T], str | None, int | None]:
    """Follow cursors from ``cursor`` until ``limit`` items (None: all of them).

    ``fetch(cursor, n, first)`` reads one page (``first``: ask for the total).
    Returns the items, the cursor of the rest (None when nothing is left) and
    the total the first page reported, if any.
    """
    items: list[T] = []
    total: int | None = None
    pages = 0
    while limit is None or len(items) < limit:
        n = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - len(items))
        page = fetch(cursor, n, pages == 0)
        if pages == 0:
            total = page.total
        items.extend(page.items)
        pages += 1
        if pages > 1:
            progress(f"... {len(items)} {what} so far")
        cursor = page.next_cursor
        if cursor is None:
            break
    return items, cursor, total


def add_paging_options(p: argparse.ArgumentParser, *, default_limit: int) -> None:
    """``--limit``, ``--all``, ``--cursor`` and ``--wide`` for listings."""
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--limit", type=int, default=default_limit, help="at most N rows (default %(default)s)"
    )
    g.add_argument("--all", dest="every", action="store_true", help="every row, page after page")
    p.add_argument("--cursor", help="continue after the page that printed this cursor")
    p.add_argument("--wide", action="store_true", help="never wrap cells, even at a terminal")


def page_limit(args: argparse.Namespace) -> int | None:
    """The ``--limit`` (None with ``--all``); UsageError below 1."""
    if args.every:
        return None
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    return int(args.limit)


def more_rows_note(shown: int, total: int | None, next_cursor: str | None, what: str) -> None:
    """On stderr: how many rows were shown of how many, and how to get the rest."""
    of = f" of {total}" if total is not None else ""
    if next_cursor is None:
        progress(f"{shown}{of} {what}")
        return
    progress(
        f"showing {shown}{of} {what}; more exist: add --cursor {next_cursor} for the next"
        " page, or --all"
    )


def paged_json(
    items: Sequence[Any], next_cursor: str | None, total: int | None, **extra: Any
) -> None:
    """``{"items": [...], "next_cursor": ..., "total": ...}`` on stdout."""
    print_json({"items": list(items), "next_cursor": next_cursor, "total": total, **extra})


# -- argument values -----------------------------------------------------------------

_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")


def parse_span(text: str) -> timedelta:
    """``7d``, ``12h``, ``30m``, ``2w``, ``90s`` or an ISO 8601 duration like ``P7D``."""
    value = text.strip()
    m = _DURATION.match(value.lower())
    if m:
        n, unit = int(m.group(1)), m.group(2)
        return timedelta(
            **{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[unit]: n}
        )
    try:
        from engine.definitions.durations import parse_duration

        d = parse_duration(value.upper())
    except (ValueError, ImportError):
        raise UsageError(f"not a duration: {text!r} (try 7d, 12h, P7D)") from None
    if d.years or d.months:
        return timedelta(
            days=d.years * 365 + d.months * 30 + d.weeks * 7 + d.days,
            hours=d.hours,
            minutes=d.minutes,
            seconds=d.seconds,
        )
    return timedelta(
        weeks=d.weeks, days=d.days, hours=d.hours, minutes=d.minutes, seconds=d.seconds
    )


def parse_instant(text: str) -> datetime:
    """An ISO date or date-time; naive values are UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"not an ISO date or date-time: {text!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-23:59: past the range of UTC
        raise UsageError(f"instant outside the range of UTC: {text!r}") from None


# -- output --------------------------------------------------------------------------


def print_json(data: Any, *, out: TextIO | None = None) -> None:
    """Pretty JSON, keys in a stable order, datetimes as ISO 8601."""
    out = out or sys.stdout
    json.dump(data, out, indent=2, sort_keys=True, default=_default, ensure_ascii=False)
    out.write("\n")


def print_json_line(data: Mapping[str, Any], *, out: TextIO | None = None) -> None:
    """One compact JSON line, keys sorted (``db`` and ``audit`` commands)."""
    out = out or sys.stdout
    out.write(json.dumps(data, sort_keys=True) + "\n")


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
    wide: bool = False,
) -> None:
    """An aligned table; ids and dates are never cut; at a terminal other cells wrap.

    See :mod:`engine.cli.tables` (plain when piped or with ``wide``; rich at a terminal).
    """
    from engine.cli.tables import KEEP_WHOLE_HEADERS, render

    out = out or sys.stdout
    raw = [list(row) for row in rows]
    whole = [
        i == 0
        or h in KEEP_WHOLE_HEADERS
        or any(isinstance(r[i], datetime) for r in raw if i < len(r))
        for i, h in enumerate(headers)
    ]
    text_rows = [[cell(v) for v in row] for row in raw]
    render(text_rows, headers, whole, out=out, width=max_width, wide=wide)


def listing(
    args: argparse.Namespace,
    items: Sequence[V],
    headers: Sequence[str],
    row: Callable[[V], Sequence[Any]],
    to_dict: Callable[[V], Any] | None = None,
) -> int:
    """``items`` as JSON with ``--json`` (``to_dict``, else each item's own), else a table."""
    if args.json:
        print_json([to_dict(i) if to_dict else i.to_dict() for i in items])
    else:
        table([row(i) for i in items], headers, wide=getattr(args, "wide", False))
    return EXIT_OK


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
