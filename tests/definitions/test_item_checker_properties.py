"""Hypothesis: the checker never crashes on mangled item declarations and locates every finding."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.definitions import check_paths
from engine.definitions.codes import DIAGNOSTIC_CODES, WARNING_CODES
from engine.definitions.loader import clear_cache

DEMO = Path(__file__).resolve().parent.parent / "fixtures" / "valid" / "items_demo.yaml"
BASE: dict[str, Any] = yaml.safe_load(DEMO.read_text(encoding="utf-8"))

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 2000),
    st.text(max_size=8),
    st.sampled_from(
        [
            "sent",
            "acepted",
            "item.data.provider",
            "item.data.nope",
            "items.referal.size() > 0",
            "item.",
            "-P1D",
            "P0D",
            "$nope",
            "$referral_follow_up",
            "case_manager",
        ]
    ),
    st.lists(
        st.sampled_from(["sent", "expired", "nowhere", "linking", "case_manager"]), max_size=3
    ),
    st.just({}),
    st.just([]),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key/index path under ``node`` (the items map)."""
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


ITEM_PATHS = [p for p in _paths(BASE["items"]) if p]


def _set(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    node: Any = doc["items"]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(ITEM_PATHS), junk), min_size=1, max_size=4))
def test_checker_survives_mangled_items(changes: list[tuple[tuple[Any, ...], Any]]) -> None:
    doc = copy.deepcopy(BASE)
    for path, value in changes:
        try:
            _set(doc, path, value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change replaced a parent of this path
    clear_cache()
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "wf.yaml"
        file.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        report = check_paths([file])
    for d in report.diagnostics:
        assert d.code != "internal-error", str(d)
        assert d.code in DIAGNOSTIC_CODES, d.code
        assert (d.severity == "warning") == (d.code in WARNING_CODES), d.code
        assert d.line >= 1
        assert d.column >= 1
        assert d.json_path.startswith("$")
    if report.ok:
        (definition,) = report.definitions
        assert set(definition.item_types) <= set(doc["items"])
