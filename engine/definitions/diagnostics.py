"""Located messages about a workflow definition: errors and warnings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["error", "warning"]


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
