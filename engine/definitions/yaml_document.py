"""Where things were written in a YAML file: JSON paths and located documents.

:class:`YamlDocument` is what :mod:`yaml_reader` produces: plain data plus
the 1-based line and column of every mapping key and value, addressable by
JSON path (``$.states.referred.transitions[0].target``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from engine.definitions.diagnostics import Diagnostic
from engine.errors import DefinitionError

PathPart = str | int
JsonPath = tuple[PathPart, ...]
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def format_path(parts: JsonPath) -> str:
    """``('states', 'a', 'transitions', 0)`` -> ``$.states.a.transitions[0]``."""
    out = ["$"]
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _IDENT.match(part):
            out.append(f".{part}")
        else:
            escaped = part.replace("\\", "\\\\").replace("'", "\\'")
            out.append(f"['{escaped}']")
    return "".join(out)


_PATH_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\['((?:[^'\\]|\\.)*)'\]")


def parse_path(text: str) -> JsonPath:
    """``$.states.a.transitions[0]`` -> ``('states', 'a', 'transitions', 0)``.

    The inverse of :func:`format_path`; raises ValueError when malformed.
    """
    if not text.startswith("$"):
        raise ValueError(f"a JSON path starts with '$': {text!r}")
    parts: list[PathPart] = []
    pos = 1
    while pos < len(text):
        m = _PATH_PART.match(text, pos)
        if m is None:
            raise ValueError(f"malformed JSON path at character {pos + 1}: {text!r}")
        name, index, quoted = m.groups()
        if name is not None:
            parts.append(name)
        elif index is not None:
            parts.append(int(index))
        else:
            parts.append(re.sub(r"\\(.)", r"\1", quoted))
        pos = m.end()
    return tuple(parts)


class YamlError(DefinitionError):
    """The file could not be read as YAML; carries located diagnostics."""

    code = "yaml-invalid"

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__(diagnostics, "\n".join(str(d) for d in diagnostics))


@dataclass
class YamlDocument:
    """Plain data read from one file, with the position of every node."""

    file: str
    text: str
    data: Any
    values: dict[JsonPath, tuple[int, int]] = field(default_factory=dict)
    keys: dict[JsonPath, tuple[int, int]] = field(default_factory=dict)

    def position(self, path: JsonPath, *, key: bool = False) -> tuple[int, int]:
        """Line and column (1-based) of the node at ``path``.

        ``key=True`` prefers the mapping key naming the node (better for a
        whole state or transition than the position of its first child).
        Unknown paths fall back to the nearest ancestor that is known.
        """
        path = tuple(path)
        while True:
            if key and path in self.keys:
                return self.keys[path]
            if path in self.values:
                return self.values[path]
            if path in self.keys:
                return self.keys[path]
            if not path:
                return (1, 1)
            path = path[:-1]

    def location(self, json_path: str, *, key: bool = False) -> tuple[int, int]:
        """Line and column of the node a JSON path string names (see :meth:`position`)."""
        return self.position(parse_path(json_path), key=key)

    def diagnostic(
        self,
        path: JsonPath,
        message: str,
        code: str,
        *,
        key: bool = False,
        hint: str | None = None,
        severity: str = "error",
    ) -> Diagnostic:
        line, col = self.position(path, key=key)
        return Diagnostic(
            file=self.file,
            line=line,
            column=col,
            json_path=format_path(path),
            message=message,
            code=code,
            severity="warning" if severity == "warning" else "error",
            hint=hint,
        )
