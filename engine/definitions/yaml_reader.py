"""Safe YAML reading that remembers where every key and value was written.

PyYAML composes the node graph (scanner, parser, composer: no Python objects
are ever constructed from tags); this module then converts nodes into plain
JSON-like data itself, so that:

* every mapping key and value keeps its 1-based line and column, addressable
  by JSON path (``$.states.referred.transitions[0].target``);
* scalars resolve as in YAML 1.2's core schema: only ``true``/``false`` are
  booleans (``on``, ``off``, ``yes``, ``no`` stay strings), dates stay strings;
* duplicate keys, non-string keys and non-standard tags (``!!python/...``)
  are located errors; nothing is ever constructed from a tag;
* hostile input (alias bombs, deep nesting, huge files, bad bytes) gives one
  clear diagnostic in bounded time and memory, never a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from engine.definitions.diagnostics import Diagnostic
from engine.definitions.yaml_document import (
    JsonPath,
    PathPart,
    YamlDocument,
    YamlError,
    format_path,
    parse_path,
)

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "JsonPath",
    "PathPart",
    "YamlDocument",
    "YamlError",
    "decode",
    "format_path",
    "parse_path",
    "parse_text",
    "read_file",
]

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 100_000

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_MERGE = "tag:yaml.org,2002:merge"
_STANDARD_TAGS = {_STR, _INT, _FLOAT, _BOOL, _NULL, _SEQ, _MAP, "!"}

_BOOL_RE = re.compile(r"^(?:true|false)$", re.IGNORECASE)
_NULL_RE = re.compile(r"^(?:~|null|Null|NULL|)$")
_INT_RE = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT_RE = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)


class _CoreResolver(BaseResolver):
    """Implicit scalar resolution of the YAML 1.2 core schema."""


_CoreResolver.yaml_implicit_resolvers = {}
_CoreResolver.add_implicit_resolver(_BOOL, _BOOL_RE, list("tTfF"))
_CoreResolver.add_implicit_resolver(_NULL, _NULL_RE, ["~", "n", "N", ""])
_CoreResolver.add_implicit_resolver(_INT, _INT_RE, list("-+0123456789"))
_CoreResolver.add_implicit_resolver(_FLOAT, _FLOAT_RE, list("-+0123456789."))


class _TooDeep(Exception):
    def __init__(self, mark: yaml.Mark) -> None:
        self.mark = mark


class _DepthLimit(Composer):
    """Composer that refuses nesting deeper than MAX_DEPTH (before recursing)."""

    _depth = 0
    composed = 0  # nodes written in the file (aliases not expanded)

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        events: Any = self  # the parser half of the loader provides the event methods
        if not events.check_event(AliasEvent):
            self.composed += 1
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooDeep(events.peek_event().start_mark)
            node: Node | None = super().compose_node(parent, index)
            return node
        finally:
            self._depth -= 1


class _ComposingLoader(Reader, Scanner, Parser, _DepthLimit, _CoreResolver):
    """Pure-Python reader to composer: produces nodes, never Python objects."""

    def __init__(self, text: str) -> None:
        Reader.__init__(self, text)
        Scanner.__init__(self)
        Parser.__init__(self)
        _DepthLimit.__init__(self)
        _CoreResolver.__init__(self)


_Loader: Callable[[str], Any] = _ComposingLoader
try:  # libyaml's event parser (streaming, non-recursive) is ~6x faster; composing stays ours
    from yaml._yaml import CParser

    class _FastComposingLoader(_DepthLimit, CParser, _CoreResolver):
        def __init__(self, text: str) -> None:
            CParser.__init__(self, text)
            _DepthLimit.__init__(self)
            _CoreResolver.__init__(self)

    _Loader = _FastComposingLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    pass


def _diag(file: str, line: int, col: int, message: str, code: str) -> Diagnostic:
    return Diagnostic(file=file, line=line, column=col, json_path="$", message=message, code=code)


def _line_col_of_offset(raw: bytes, offset: int) -> tuple[int, int]:
    before = raw[:offset]
    line = before.count(b"\n") + 1
    col = offset - (before.rfind(b"\n") + 1) + 1
    return line, col


def decode(raw: bytes, file: str) -> str:
    """Bytes -> text; size and encoding problems raise :class:`YamlError`."""
    if len(raw) > MAX_BYTES:
        raise YamlError(
            [
                _diag(
                    file,
                    1,
                    1,
                    f"file is too large ({len(raw)} bytes; the limit is {MAX_BYTES} bytes)",
                    "yaml-too-large",
                )
            ]
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _line_col_of_offset(raw, exc.start)
        raise YamlError(
            [
                _diag(
                    file,
                    line,
                    col,
                    f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x}); save it as UTF-8",
                    "yaml-encoding",
                )
            ]
        ) from None
    # a BOM and Windows line ends (git autocrlf) must not change the text's hash
    return text.removeprefix("\ufeff").replace("\r\n", "\n")


def read_file(path: str | Path, display: str | None = None) -> YamlDocument:
    """Read and parse one YAML file; problems raise :class:`YamlError`."""
    file = display if display is not None else str(path)
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_BYTES:
            raise YamlError(
                [
                    _diag(
                        file,
                        1,
                        1,
                        f"file is too large ({size} bytes; the limit is {MAX_BYTES} bytes)",
                        "yaml-too-large",
                    )
                ]
            )
        with p.open("rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise YamlError(
            [_diag(file, 1, 1, f"cannot read file: {reason}", "file-unreadable")]
        ) from None
    return parse_text(decode(raw, file), file)


def parse_text(text: str, file: str) -> YamlDocument:
    """Parse YAML text; problems raise :class:`YamlError` with every finding."""
    if len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise YamlError(
            [
                _diag(
                    file,
                    1,
                    1,
                    f"file is too large (the limit is {MAX_BYTES} bytes)",
                    "yaml-too-large",
                )
            ]
        )
    node, composed = _compose(text, file)
    if node is None:
        raise YamlError(
            [_diag(file, 1, 1, "file is empty: expected a workflow mapping", "yaml-empty")]
        )
    converter = _Converter(file, allowed_nodes=composed + MAX_NODES)
    data = converter.convert(node)
    if converter.errors:
        raise YamlError(sorted(converter.errors, key=lambda d: d.sort_key))
    doc = YamlDocument(
        file=file, text=text, data=data, values=converter.values, keys=converter.keys
    )
    if not isinstance(data, dict):
        raise YamlError(
            [
                _diag(
                    file,
                    node.start_mark.line + 1,
                    node.start_mark.column + 1,
                    "the top level of a workflow file must be a mapping (name: ..., states: ...)",
                    "yaml-not-mapping",
                )
            ]
        )
    return doc


def _position(text: str, index: int) -> tuple[int, int]:
    before = text[:index]
    return before.count("\n") + 1, index - (before.rfind("\n") + 1) + 1


def _compose(text: str, file: str) -> tuple[Node | None, int]:
    """The node graph of the single document in ``text`` and how many nodes were written."""
    loader: Any = None
    try:
        loader = _Loader(text)
        return loader.get_single_node(), loader.composed
    except _TooDeep as exc:
        raise YamlError(
            [
                _diag(
                    file,
                    exc.mark.line + 1,
                    exc.mark.column + 1,
                    f"nesting is too deep (more than {MAX_DEPTH} levels)",
                    "yaml-too-deep",
                )
            ]
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            problem = f"{exc.context}: {exc.problem}"
        diag = _diag(file, line, col, f"YAML syntax error: {problem}", "yaml-syntax")
        lines = text.splitlines()
        if "\t" in problem or (0 < line <= len(lines) and lines[line - 1].startswith("\t")):
            diag = replace(diag, hint="YAML indents with spaces, not tabs")
        elif "block" in problem or "indent" in problem:
            diag = replace(diag, hint="check the indentation of this line and the one above")
        raise YamlError([diag]) from None
    except yaml.reader.ReaderError as exc:
        line, col = _position(text, exc.position) if exc.position < len(text) else (1, 1)
        message = f"character #x{exc.character:04x} is not allowed in YAML"
        raise YamlError([_diag(file, line, col, message, "yaml-syntax")]) from None
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "invalid YAML"
        raise YamlError([_diag(file, 1, 1, f"YAML error: {first}", "yaml-syntax")]) from None
    except RecursionError:
        raise YamlError([_diag(file, 1, 1, "nesting is too deep", "yaml-too-deep")]) from None
    except (ValueError, UnicodeError) as exc:  # e.g. unpaired surrogates handed to libyaml
        message = f"the text cannot be parsed as YAML ({type(exc).__name__})"
        raise YamlError([_diag(file, 1, 1, message, "yaml-syntax")]) from None
    finally:
        if loader is not None:
            loader.dispose()


class _AliasBomb(Exception):
    def __init__(self, mark: yaml.Mark) -> None:
        self.mark = mark


class _Converter:
    """Nodes -> plain data, recording positions; bounded by node count and depth."""

    def __init__(self, file: str, allowed_nodes: int) -> None:
        self.file = file
        self.allowed_nodes = allowed_nodes
        self.values: dict[JsonPath, tuple[int, int]] = {}
        self.keys: dict[JsonPath, tuple[int, int]] = {}
        self.errors: list[Diagnostic] = []
        self.count = 0
        self.top_key: tuple[yaml.Mark, JsonPath] | None = None

    def convert(self, node: Node) -> Any:
        try:
            return self._node(node, (), 0)
        except _AliasBomb as exc:
            # an aliased node's own mark is its anchor; the top-level key being
            # converted says better where the expansion happened
            mark = self.top_key[0] if self.top_key else exc.mark
            self.errors = [
                Diagnostic(
                    file=self.file,
                    line=mark.line + 1,
                    column=mark.column + 1,
                    json_path=format_path(self.top_key[1] if self.top_key else ()),
                    code="yaml-alias-bomb",
                    message=f"aliases expand to more than {MAX_NODES} extra nodes "
                    "(an alias bomb?); "
                    "write the content out or use shared_transitions/include",
                )
            ]
            return None
        except _TooDeep as exc:
            self.errors = [
                _diag(
                    self.file,
                    exc.mark.line + 1,
                    exc.mark.column + 1,
                    f"nesting is too deep (more than {MAX_DEPTH} levels, counting aliases)",
                    "yaml-too-deep",
                )
            ]
            return None

    def _error(self, node: Node, path: JsonPath, message: str, code: str) -> None:
        self.errors.append(
            Diagnostic(
                file=self.file,
                line=node.start_mark.line + 1,
                column=node.start_mark.column + 1,
                json_path=format_path(path),
                message=message,
                code=code,
            )
        )

    def _node(self, node: Node, path: JsonPath, depth: int) -> Any:
        self.count += 1
        if self.count > self.allowed_nodes:
            raise _AliasBomb(node.start_mark)
        if depth > MAX_DEPTH:
            raise _TooDeep(node.start_mark)
        self.values.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        tag = node.tag
        if tag not in _STANDARD_TAGS:
            shown = tag.replace("tag:yaml.org,2002:", "!!")
            self._error(
                node,
                path,
                f"tag {shown!r} is not allowed: workflow files are plain data",
                "yaml-tag",
            )
            return None
        if isinstance(node, ScalarNode):
            return self._scalar(node, path)
        if isinstance(node, SequenceNode):
            return [self._node(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        if isinstance(node, MappingNode):
            return self._mapping(node, path, depth)
        self._error(node, path, "unsupported YAML node", "yaml-tag")  # pragma: no cover
        return None

    def _mapping(self, node: MappingNode, path: JsonPath, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            self.count += 1
            if self.count > self.allowed_nodes:
                raise _AliasBomb(key_node.start_mark)
            if key_node.tag == _MERGE or (
                isinstance(key_node, ScalarNode) and key_node.value == "<<" and not key_node.style
            ):
                self._error(
                    key_node,
                    path,
                    "merge keys (<<) are not supported; use shared_transitions or include",
                    "yaml-merge-key",
                )
                continue
            if key_node.tag not in _STANDARD_TAGS:
                shown = key_node.tag.replace("tag:yaml.org,2002:", "!!")
                self._error(
                    key_node,
                    path,
                    f"tag {shown!r} is not allowed: workflow files are plain data",
                    "yaml-tag",
                )
                continue
            if not isinstance(key_node, ScalarNode) or key_node.tag not in (_STR, "!"):
                self._error(
                    key_node,
                    path,
                    "mapping keys must be strings (quote the key)",
                    "yaml-key-type",
                )
                continue
            key = str(key_node.value)
            sub = (*path, key)
            if key in out:
                first = self.keys.get(sub, (0, 0))
                self._error(
                    key_node,
                    sub,
                    f"duplicate key {key!r} (first defined at line {first[0]})",
                    "duplicate-key",
                )
                continue
            self.keys[sub] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if depth == 0:
                self.top_key = (key_node.start_mark, sub)
            out[key] = self._node(value_node, sub, depth + 1)
        return out

    def _scalar(self, node: ScalarNode, path: JsonPath) -> Any:
        value: str = node.value
        tag = node.tag
        if tag in (_STR, "!"):
            return value
        if tag == _NULL:
            return None
        if tag == _BOOL:
            if _BOOL_RE.match(value):
                return value.lower() == "true"
        elif tag == _INT:
            if _INT_RE.match(value):
                if value.startswith("0o"):
                    return int(value[2:], 8)
                if value.startswith("0x"):
                    return int(value[2:], 16)
                return int(value, 10)
        elif tag == _FLOAT:
            if _FLOAT_RE.match(value) or _INT_RE.match(value):
                lowered = value.lower()
                if lowered.endswith(".inf"):
                    return float("-inf") if lowered.startswith("-") else float("inf")
                if lowered == ".nan":
                    return float("nan")
                return float(value)
        else:  # pragma: no cover - tags are filtered before
            return value
        self._error(node, path, f"value does not match its tag {tag!r}", "yaml-tag")
        return None
