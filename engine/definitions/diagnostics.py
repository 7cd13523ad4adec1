"""Located messages about a workflow definition: errors and warnings."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["error", "warning"]

MAX_PER_FILE = 100  # diagnostics shown per file; the rest are counted in one line
MAX_MESSAGE = 400  # characters of a message, hint or JSON path
MAX_SHOWN = 60  # characters of a value echoed inside a message


def shorten(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` cut to ``limit`` characters, ending in an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def shown(value: Any, limit: int = MAX_SHOWN) -> str:
    """``repr(value)`` for a message, cut to ``limit`` characters (a value can be 100 kB)."""
    if isinstance(value, str) and len(value) > limit:
        value = value[: limit + 1]  # repr of a cut string: no need to repr 100 kB
    return shorten(repr(value), limit)


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding, printed as ``file:LINE:COL: $.json.path: message``.

    ``code`` is stable (``unknown-target``, ``duplicate-key``, ...) so editors
    and CI can filter on it; ``hint`` is an optional suggestion such as a
    did-you-mean.
    """

    file: str
    line: int
    column: int
    json_path: str
    message: str
    code: str
    severity: Severity = "error"
    hint: str | None = None

    def __post_init__(self) -> None:
        # a hostile file must not turn one value into megabytes of output
        for name in ("message", "json_path", "hint"):
            value = getattr(self, name)
            if isinstance(value, str) and len(value) > MAX_MESSAGE:
                object.__setattr__(self, name, shorten(value))

    def __str__(self) -> str:
        prefix = "" if self.severity == "error" else "warning: "
        text = f"{self.file}:{self.line}:{self.column}: {self.json_path}: {prefix}{self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.json_path,
            "message": self.message,
            "code": self.code,
            "severity": self.severity,
            "hint": self.hint,
        }

    @property
    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.file, self.line, self.column, self.message)


def cap_per_file(diags: Iterable[Diagnostic], limit: int = MAX_PER_FILE) -> list[Diagnostic]:
    """The first ``limit`` diagnostics of each file, then one line counting the rest.

    The summary line has code ``too-many-diagnostics`` and is an error when any
    dropped diagnostic is one, so capping never turns a failing file into a
    passing one. Call it once, on the final list.
    """
    out: list[Diagnostic] = []
    kept: dict[str, int] = {}
    dropped: dict[str, list[Diagnostic]] = {}
    for d in diags:
        if kept.get(d.file, 0) < limit:
            kept[d.file] = kept.get(d.file, 0) + 1
            out.append(d)
        else:
            dropped.setdefault(d.file, []).append(d)
    for file, rest in dropped.items():
        out.append(
            Diagnostic(
                file=file,
                line=1,
                column=1,
                json_path="$",
                message=f"\u2026 and {len(rest)} more diagnostics in {file}",
                code="too-many-diagnostics",
                severity="error" if any(d.severity == "error" for d in rest) else "warning",
            )
        )
    return out
