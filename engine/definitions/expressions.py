"""CEL guards and computed instants, compiled once and evaluated over plain data.

We use the ``cel`` module of PyPI ``common-expression-language`` (a Rust CEL
implementation: about 7 µs per evaluation of a compiled program). Expressions
see four variables: ``case`` (the case record), ``event`` (the payload, ``{}``
for timers), ``params`` (workflow parameters) and ``now`` (UTC timestamp).

Error messages never contain data values: only field names that are written
in the expression itself, and the kind of failure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from engine.errors import EngineError

VARIABLES = ("case", "event", "params", "now", "items")
ITEM_VARIABLES = (*VARIABLES, "item")
"""Case expressions see ``items`` (type -> list of the case's items); an item's own
expressions see ``item`` too (engine/definitions/items.py)."""
MAX_SOURCE = 2000
MAX_COMPREHENSION_NESTING = 1


class ExpressionError(EngineError):
    """A CEL expression does not compile or could not be evaluated (no data values).

    ``missing`` is True when evaluation failed because a field or map key the
    expression reads is absent (e.g. a timer's ``at`` over a case field that is
    not set yet); ``field`` then names it when the expression spells it
    (``case.discharge_date``), else None.
    """

    code = "expression-error"

    def __init__(self, message: str, *, missing: bool = False, field: str | None = None) -> None:
        super().__init__(message)
        self.missing = missing
        self.field = field


class ExpressionTooCostly(ExpressionError):
    """A CEL expression could run longer than the evaluation budget allows (refused at load)."""

    code = "expression-too-costly"


@dataclass(frozen=True)
class Expression:
    """A compiled CEL expression."""

    source: str
    _program: Any = field(repr=False, compare=False, default=None)

    def evaluate(
        self,
        *,
        case: Mapping[str, Any],
        event: Mapping[str, Any],
        params: Mapping[str, Any],
        now: datetime,
        items: Mapping[str, Any] | None = None,
        item: Mapping[str, Any] | None = None,
    ) -> Any:
        """Evaluate over plain data; raises :class:`ExpressionError`.

        ``items`` (item type -> list of item maps) and ``item`` (one item map) are
        bound only when given: an expression naming them without them fails."""
        context: dict[str, Any] = {
            "case": dict(case),
            "event": dict(event),
            "params": dict(params),
            "now": now,
        }
        if items is not None:
            context["items"] = dict(items)
        if item is not None:
            context["item"] = dict(item)
        try:
            return self._program.execute(context)
        except KeyError as exc:
            message, name = self._missing(exc)
            raise ExpressionError(message, missing=True, field=name) from None
        except ZeroDivisionError:
            raise ExpressionError("CEL evaluation failed: division by zero") from None
        except TypeError:
            raise ExpressionError(
                "CEL evaluation failed: an operator or function got values of the wrong type"
            ) from None
        except (RuntimeError, ValueError, OverflowError) as exc:
            raise ExpressionError(self._runtime_message(exc)) from None
        except Exception as exc:  # the Rust core may raise anything; never leak values
            raise ExpressionError(f"CEL evaluation failed ({type(exc).__name__})") from None

    def _missing(self, exc: KeyError) -> tuple[str, str | None]:
        name = exc.args[0] if exc.args else None
        # Only name the key if the expression itself spells it: a computed key
        # (case[case.x]) could be a data value.
        if isinstance(name, str) and name in _identifiers(self.source):
            refs = [r for r in field_references(self.source) if r.name == name]
            where = f"{refs[0].root}.{name}" if refs else name
            return f"field {where!r} is missing (test it with has({where}) first)", where
        return "CEL evaluation failed: a field or map key is missing", None

    def _runtime_message(self, exc: Exception) -> str:
        text = str(exc)
        m = re.search(r"Undefined variable or function: '([A-Za-z_][A-Za-z0-9_]*)'", text)
        if m and m.group(1) in _identifiers(self.source):
            return f"CEL evaluation failed: undefined variable or function {m.group(1)!r}"
        return f"CEL evaluation failed ({type(exc).__name__})"


def compile_expression(source: str) -> Expression:
    """Compile CEL source (cached: the same source compiles once); raises ExpressionError."""
    if not isinstance(source, str):
        raise ExpressionError("a CEL expression must be a string")
    return _compile(source)


@lru_cache(maxsize=4096)
def _compile(source: str) -> Expression:
    if not source.strip():
        raise ExpressionError("empty CEL expression")
    if len(source) > MAX_SOURCE:
        raise ExpressionError(f"CEL expression longer than {MAX_SOURCE} characters")
    nesting = comprehension_nesting(source)
    if nesting > MAX_COMPREHENSION_NESTING:
        raise ExpressionTooCostly(
            f"comprehensions (map, filter, all, exists, exists_one) nest {nesting} deep; "
            f"at most {MAX_COMPREHENSION_NESTING} is allowed, so evaluation stays linear "
            "in the size of the data"
        )
    try:
        import cel  # on first use: importing it loads its REPL (prompt_toolkit)

        program = cel.compile(source)
    except Exception as exc:
        raise ExpressionError(_compile_message(str(exc))) from None
    return Expression(source=source, _program=program)


def comprehension_nesting(source: str) -> int:
    """How deep comprehension macros nest in ``source`` (0: none).

    The CEL library has no cost limit and holds the GIL while it evaluates, so
    the cost is bounded here: a comprehension inside another one is quadratic
    (or worse) in the data, one alone is linear, and the data itself is bounded
    where it enters (engine.runtime.json_policy).
    """
    tokens = _tokens(source)
    depth = 0
    open_macros: list[int] = []  # paren depth at which each open macro's call started
    deepest = 0
    for i, (_kind, text, _pos) in enumerate(tokens):
        if text == "(":
            is_macro = (
                i >= 2
                and tokens[i - 1][0] == "ident"
                and tokens[i - 1][1] in _MACROS
                and tokens[i - 2][1] == "."
            )
            depth += 1
            if is_macro:
                open_macros.append(depth)
                deepest = max(deepest, len(open_macros))
        elif text == ")":
            if open_macros and open_macros[-1] == depth:
                open_macros.pop()
            depth -= 1
    return deepest


def _compile_message(text: str) -> str:
    """The first useful line of the cel parser's message (it echoes only the source)."""
    m = re.search(r"<input>:(\d+):(\d+): (.*)", text)
    if m:
        detail = re.sub(r" expecting \{[^}]*\}", "", m.group(3).strip())
        if "Recursion limit" in detail:
            detail = "the expression is nested too deeply"
        return f"CEL syntax error at {m.group(1)}:{m.group(2)}: {detail}"
    first = text.strip().splitlines()[0] if text.strip() else "invalid CEL"
    return f"CEL does not compile: {first}"


def variables_of(source: str) -> list[str]:
    """Top-level variable names the expression uses (from the compiled program)."""
    expr = compile_expression(source)
    return list(expr._program.variables())


_MACROS = {"all", "exists", "exists_one", "map", "filter"}


def unknown_variables(source: str, allowed: tuple[str, ...] = VARIABLES) -> list[str]:
    """Variables other than ``allowed`` (case, event, params, now, items; an item's own
    expressions also ``item``) and macro-bound names (``x`` in ``list.all(x, ...)``):
    almost always a misspelt root such as ``evnt``."""
    toks = _tokens(source)
    bound: set[str] = set()
    for i in range(len(toks) - 4):
        if (
            toks[i][1] == "."
            and toks[i + 1][0] == "ident"
            and toks[i + 1][1] in _MACROS
            and toks[i + 2][1] == "("
            and toks[i + 3][0] == "ident"
            and toks[i + 4][1] == ","
        ):
            bound.add(toks[i + 3][1])
    return [v for v in variables_of(source) if v not in allowed and v not in bound]


# -- static references ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldReference:
    """``case.<name>``, ``event.<name>`` or ``params.<name>`` written in an expression."""

    root: str  # "case" | "event" | "params"
    name: str
    offset: int  # character offset of the root identifier in the source


_TOKEN = re.compile(
    r"""
    (?P<string>[rRbB]{0,2}(?:'''(?:\\.|[^\\])*?'''|\"\"\"(?:\\.|[^\\])*?\"\"\"
        |'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"))
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<number>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?[uU]?)
    | (?P<space>\s+)
    | (?P<op>.)
    """,
    re.VERBOSE | re.DOTALL,
)

_ROOTS = ("case", "event", "params")


def _tokens(source: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    for m in _TOKEN.finditer(source):
        kind = m.lastgroup or "op"
        if kind == "space":
            continue
        out.append((kind, m.group(), m.start()))
    return out


def _identifiers(source: str) -> set[str]:
    names = {text for kind, text, _ in _tokens(source) if kind == "ident"}
    for kind, text, _ in _tokens(source):
        if kind == "string":
            inner = _string_value(text)
            if inner is not None:
                names.add(inner)
    return names


def _string_value(token: str) -> str | None:
    body = token.lstrip("rRbB")
    for quote in ('"""', "'''", '"', "'"):
        if body.startswith(quote) and body.endswith(quote) and len(body) >= 2 * len(quote):
            return body[len(quote) : -len(quote)]
    return None


def field_references(source: str) -> list[FieldReference]:
    """Every ``case.x`` / ``event.x`` / ``params.x`` (or ``case["x"]``) in ``source``.

    A static scan: string literals are skipped, ``a.case.x`` (a member named
    case) is not a reference, and names bound by macros are not resolved.
    """
    toks = _tokens(source)
    refs: list[FieldReference] = []
    for i, (kind, text, pos) in enumerate(toks):
        if kind != "ident" or text not in _ROOTS:
            continue
        if i > 0 and toks[i - 1][1] == "." and toks[i - 1][0] == "op":
            continue
        if i + 2 < len(toks) and toks[i + 1][1] == "." and toks[i + 2][0] == "ident":
            refs.append(FieldReference(text, toks[i + 2][1], pos))
        elif (
            i + 3 < len(toks)
            and toks[i + 1][1] == "["
            and toks[i + 2][0] == "string"
            and toks[i + 3][1] == "]"
        ):
            value = _string_value(toks[i + 2][1])
            if value is not None:
                refs.append(FieldReference(text, value, pos))
    return refs


# -- references to items -----------------------------------------------------------------

ITEM_KEYS = ("id", "type", "state", "data", "opened_at", "closed_at", "closed")
"""What an item map holds (``item.state``, ``r.data.provider``)."""


@dataclass(frozen=True, slots=True)
class ItemReference:
    """A reference to items written in an expression.

    ``kind`` is ``"type"`` for ``items.T`` (``item_type`` T, ``name`` T), ``"key"`` for
    ``item.X`` or ``r.X`` (an item's own key), ``"data"`` for ``item.data.X`` or
    ``r.data.X``. ``item_type`` is None for ``item`` (the expression's own item) and
    the type for ``r`` bound by ``items.T.all(r, ...)`` (or exists, map, filter...).
    """

    kind: str
    item_type: str | None
    name: str
    offset: int


def _member(toks: list[tuple[str, str, int]], i: int) -> tuple[str, int] | None:
    """The member read at token ``i`` (``.x`` or ``["x"]``) and the index after it."""
    if i + 1 < len(toks) and toks[i][1] == "." and toks[i + 1][0] == "ident":
        return toks[i + 1][1], i + 2
    if (
        i + 2 < len(toks)
        and toks[i][1] == "["
        and toks[i + 1][0] == "string"
        and toks[i + 2][1] == "]"
    ):
        value = _string_value(toks[i + 1][1])
        if value is not None:
            return value, i + 3
    return None


def item_references(source: str) -> list[ItemReference]:
    """Every ``items.T``, ``item.X``, ``item.data.X`` and, for ``r`` bound by a macro
    over ``items.T``, ``r.X`` / ``r.data.X`` in ``source`` (a static scan, as
    :func:`field_references`)."""
    toks = _tokens(source)
    refs: list[ItemReference] = []
    bound: dict[str, str] = {}
    for i, (kind, text, pos) in enumerate(toks):
        if kind != "ident" or text != "items" or (i > 0 and toks[i - 1][1] == "."):
            continue
        member = _member(toks, i + 1)
        if member is None:
            continue
        type_name, j = member
        refs.append(ItemReference("type", type_name, type_name, pos))
        if (
            j + 4 < len(toks)
            and toks[j][1] == "."
            and toks[j + 1][1] in _MACROS
            and toks[j + 2][1] == "("
            and toks[j + 3][0] == "ident"
            and toks[j + 4][1] == ","
        ):
            bound[toks[j + 3][1]] = type_name
    for i, (kind, text, pos) in enumerate(toks):
        if kind != "ident" or (i > 0 and toks[i - 1][1] == "."):
            continue
        if text == "item":
            item_type: str | None = None
        elif text in bound:
            item_type = bound[text]
        else:
            continue
        member = _member(toks, i + 1)
        if member is None or _called(toks, member[1]):
            continue  # not a member, or a method call such as r.size()
        key, j = member
        if key != "data":
            refs.append(ItemReference("key", item_type, key, pos))
            continue
        field_member = _member(toks, j)
        if field_member is not None and not _called(toks, field_member[1]):
            refs.append(ItemReference("data", item_type, field_member[0], pos))
    return refs


def _called(toks: list[tuple[str, str, int]], i: int) -> bool:
    return i < len(toks) and toks[i][1] == "("
