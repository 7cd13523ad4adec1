"""The JSON depth check that runs before parsing."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.api.middleware import json_depth_exceeds


def _depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ('{"a": [[[1]]]}', 4, False),
        ('{"a": [[[1]]]}', 3, True),
        ('"[[[[[[[[[["', 2, False),  # brackets inside strings do not nest
        ('["\\\\", [1]]', 2, False),  # an escaped backslash ends before the quote
        ('["\\"[[[[", 1]', 1, False),  # an escaped quote does not end the string
        ("[]" * 1000, 1, False),  # siblings, not nesting
    ],
)
def test_depth_of_examples(text, limit, expected):
    assert json_depth_exceeds(text.encode(), limit) is expected


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab'),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=20,
)


@given(json_values, st.integers(min_value=0, max_value=8))
def test_depth_check_agrees_with_the_parsed_depth(value, limit):
    body = json.dumps(value).encode()
    assert json_depth_exceeds(body, limit) is (_depth(value) > limit)
