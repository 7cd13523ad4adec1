"""CEL evaluation is bounded (hardening, finding 3): the library has no cost limit and holds
the GIL, so comprehensions nest at most one deep (checked at load) and the data an expression
sees is bounded where it enters; a `set` never stores NaN or Infinity."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.definitions import load_workflow
from engine.definitions.expressions import (
    ExpressionTooCostly,
    compile_expression,
    comprehension_nesting,
)
from engine.errors import DefinitionError

ENGINE_FIXTURE = Path(__file__).resolve().parent.parent / "engine" / "fixtures" / "v1"


@pytest.mark.parametrize(
    ("source", "depth"),
    [
        ("case.attempts > 1", 0),
        ("event.items.all(i, i.size() < 10)", 1),
        ("size(event.a.filter(x, x > 1)) > 0 && event.b.exists(y, y == 2)", 1),
        ("event.items.all(i, event.items.exists_one(j, j == i))", 2),
        ("[1, 2].map(x, [3].map(y, [4].map(z, z + x + y)))", 3),
        ('event.s.exists(x, x == ".map(")', 1),  # a string is not a macro
    ],
)
def test_comprehension_nesting_is_measured(source: str, depth: int) -> None:
    assert comprehension_nesting(source) == depth


def test_nested_comprehensions_are_refused() -> None:
    with pytest.raises(ExpressionTooCostly):
        compile_expression("event.items.all(i, event.items.exists_one(j, j == i))")


def test_a_workflow_with_a_quadratic_guard_is_refused_with_its_location(tmp_path: Path) -> None:
    text = (ENGINE_FIXTURE / "enginetest.yaml").read_text()
    costly = "guard: case.attempts + 1 < params.max_attempts"
    assert costly in text
    bad = text.replace(costly, "guard: '[1, 2].all(i, [1, 2].exists_one(j, j == i))'", 1)
    path = tmp_path / "enginetest.yaml"
    path.write_text(bad)
    with pytest.raises(DefinitionError) as info:
        load_workflow(path)
    (diag,) = [d for d in info.value.diagnostics if d.code == "cel-too-costly"]
    assert diag.json_path.endswith(".guard")
    assert diag.line == bad[: bad.index("[1, 2].all")].count("\n") + 1
