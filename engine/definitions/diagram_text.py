"""Text that is safe inside Mermaid and Graphviz DOT diagrams (no statement breaks)."""

from __future__ import annotations

import re
from collections.abc import Sequence

# IDs the Mermaid state-diagram lexer reads as keywords (case-insensitive).
MERMAID_KEYWORDS = (
    "default",
    "note",
    "state",
    "class",
    "classdef",
    "scale",
    "statediagram",
    "click",
    "style",
    "direction",
    "hide",
    "acctitle",
    "accdescr",
    "end",
)
_DIRECTION = re.compile(r"(direction)(\s+)(tb|bt|rl|lr)", re.IGNORECASE)
_MERMAID_REPLACE = str.maketrans(
    {
        ":": "\ua789",  # modifier-letter colon: ":" ends a description
        ";": "\uff1b",  # fullwidth semicolon: ";" ends a statement
        "%": "\uff05",  # fullwidth percent: "%%" starts a comment
        '"': "'",  # ends a quoted state label
        "<": "\u2039",  # angle quotes: HTML-like text is sanitised out
        ">": "\u203a",
        "\n": " ",
        "\r": " ",
        "\t": " ",
    }
)


def mermaid_text(text: str) -> str:
    """Text safe in a Mermaid state-diagram label: no statement or comment breaks."""
    safe = " ".join(text.translate(_MERMAID_REPLACE).split())
    # "direction lr" anywhere on a line is read as a layout statement: break the word.
    return _DIRECTION.sub(lambda m: "directio\u200dn" + m.group(2) + m.group(3), safe)


def dot_quote(text: str) -> str:
    """A DOT double-quoted string; newlines become centred line breaks."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    return f'"{escaped}"'


def dot_label(lines: Sequence[str]) -> str:
    """A DOT label of several lines, each left-aligned (``\\l``), as a quoted string."""
    if len(lines) == 1:
        return dot_quote(lines[0])
    escaped = [line.replace("\\", "\\\\").replace('"', '\\"') for line in lines]
    return '"' + "\\l".join(" ".join(e.split()) for e in escaped) + '\\l"'
