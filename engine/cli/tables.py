"""Tables for people: never cut an id or a date; wrap free text at a terminal.

Piped or redirected output (and ``--wide``) is plain aligned text, every cell
whole, so scripts and ``grep`` see full values. At a terminal the table is
drawn with rich: ids, case references, dates and every column of one-word
cells (states, statuses) keep their full width (no wrapping, no ellipsis),
and free text wraps between words to fit; when that cannot fit, the plain
table is printed and the terminal wraps its lines. Colour follows rich's
rules: ``NO_COLOR`` (set, non-empty) turns it off, as does ``TERM=dumb``;
nothing is coloured when the output is not a terminal.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from typing import TextIO

KEEP_WHOLE_HEADERS = frozenset({"ID", "CASE", "OPENED", "DUE", "AT", "NEXT ATTEMPT"})
"""Columns whose cells are never wrapped or cut (besides the first and date columns)."""

_MIN_WRAPPED = 8  # narrowest a wrapped column may get
_ALERTS = frozenset({"OVERDUE"})  # cells drawn bold red where colour is allowed


def no_color() -> bool:
    """Whether ``NO_COLOR`` asks for no colour (https://no-color.org: set and non-empty)."""
    return bool(os.environ.get("NO_COLOR"))


def plain(rows: Sequence[Sequence[str]], headers: Sequence[str], out: TextIO) -> None:
    """Aligned columns, every cell whole."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], len(value))

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    out.write(line(list(headers)) + "\n")
    out.write(line(["-" * w for w in widths]) + "\n")
    for row in rows:
        out.write(line(row) + "\n")
    if not rows:
        out.write("(none)\n")


def render(
    rows: Sequence[Sequence[str]],
    headers: Sequence[str],
    whole: Sequence[bool],
    *,
    out: TextIO,
    width: int | None = None,
    wide: bool = False,
    terminal: bool | None = None,
) -> None:
    """The table at a terminal (rich, wrapped) or plain; ``whole[i]``: never cut column i."""
    at_terminal = out.isatty() if terminal is None else terminal
    if wide or not at_terminal or not rows:
        plain(rows, headers, out)
        return
    columns = width or shutil.get_terminal_size((120, 24)).columns
    # Cells without a space (states, phases, statuses: identifiers) are never broken either;
    # the others wrap between words, so a column needs at least its longest word.
    whole = [keep or not any(" " in r[i] for r in rows) for i, keep in enumerate(whole)]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    words = [
        max([_MIN_WRAPPED, *(len(w) for r in rows for w in r[i].split())])
        for i in range(len(headers))
    ]
    needed = sum(
        w if keep else min(w, least) for w, keep, least in zip(widths, whole, words, strict=True)
    )
    if needed + 2 * (len(headers) - 1) > columns:
        plain(rows, headers, out)
        return

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(
        file=out,
        width=columns,
        force_terminal=True,
        no_color=no_color() or None,
        highlight=False,
        emoji=False,
        markup=False,
    )
    table = Table(box=None, pad_edge=False, padding=(0, 2, 0, 0), header_style="bold")
    for header, keep, w, least in zip(headers, whole, widths, words, strict=True):
        if keep:
            table.add_column(header, no_wrap=True, min_width=w, overflow="ignore")
        else:
            table.add_column(header, min_width=min(w, least), overflow="fold")
    for row in rows:
        table.add_row(*(Text(v, style="bold red") if v in _ALERTS else Text(v) for v in row))
    console.print(table)
