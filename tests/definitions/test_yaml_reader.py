"""The located, YAML-1.2-core, construct-nothing reader."""

from __future__ import annotations

import pytest

from engine.definitions.yaml_reader import YamlError, format_path, parse_path, parse_text


def test_only_true_and_false_are_booleans(loader):
    doc = parse_text(
        "a: on\nb: off\nc: yes\nd: no\ne: y\nf: n\ng: True\nh: FALSE\ni: true\n", "t.yaml"
    )
    assert doc.data == {
        "a": "on",
        "b": "off",
        "c": "yes",
        "d": "no",
        "e": "y",
        "f": "n",
        "g": True,
        "h": False,
        "i": True,
    }


def test_keys_on_and_no_stay_strings(loader):
    assert parse_text("on: 1\nno: 2\n", "t.yaml").data == {"on": 1, "no": 2}


def test_dates_and_sexagesimals_stay_strings(loader):
    doc = parse_text("d: 2026-01-06\nt: 2026-01-06T10:00:00Z\ns: 1:20\nb: 0b101\n", "t.yaml")
    assert doc.data == {"d": "2026-01-06", "t": "2026-01-06T10:00:00Z", "s": "1:20", "b": "0b101"}


def test_numbers_and_null(loader):
    doc = parse_text("a: 12\nb: -3\nc: 1.5\nd: 0x1F\ne: 0o17\nf: ~\ng: null\nh:\ni: 1e3\n", "t")
    assert doc.data == {
        "a": 12,
        "b": -3,
        "c": 1.5,
        "d": 31,
        "e": 15,
        "f": None,
        "g": None,
        "h": None,
        "i": 1000.0,
    }


def test_every_key_and_value_is_located_by_json_path(loader):
    text = "states:\n  referred:\n    transitions:\n      - event: go\n        target: done\n"
    doc = parse_text(text, "t.yaml")
    path = ("states", "referred", "transitions", 0, "target")
    assert format_path(path) == "$.states.referred.transitions[0].target"
    assert doc.values[path] == (5, 17)
    assert doc.keys[path] == (5, 9)
    assert doc.keys[("states", "referred")] == (2, 3)
    assert doc.position(("states", "referred"), key=True) == (2, 3)
    assert doc.position((*path, "missing")) == (5, 17)


def test_columns_count_characters_not_bytes(loader):
    doc = parse_text("désignation: ü\nnext: 1\n", "t.yaml")
    assert doc.values[("désignation",)] == (1, 14)


def test_duplicate_key_is_located_at_the_second_key(loader):
    with pytest.raises(YamlError) as info:
        parse_text("states:\n  a: 1\n  b: 2\n  a: 3\n", "t.yaml")
    (diag,) = info.value.diagnostics
    assert (diag.line, diag.column, diag.json_path, diag.code) == (
        4,
        3,
        "$.states.a",
        "duplicate-key",
    )
    assert "line 2" in diag.message


def test_every_duplicate_and_bad_key_is_reported_at_once(loader):
    with pytest.raises(YamlError) as info:
        parse_text("a: 1\na: 2\n1: x\n[k]: y\nb: !!python/tuple [1]\n", "t.yaml")
    codes = [(d.code, d.line) for d in info.value.diagnostics]
    assert codes == [
        ("duplicate-key", 2),
        ("yaml-key-type", 3),
        ("yaml-key-type", 4),
        ("yaml-tag", 5),
    ]


def test_quoted_keys_are_strings(loader):
    assert parse_text('"1": x\n"true": y\n', "t.yaml").data == {"1": "x", "true": "y"}


def test_aliases_are_expanded_as_copies(loader):
    doc = parse_text("a: &x {k: 1}\nb: *x\n", "t.yaml")
    assert doc.data == {"a": {"k": 1}, "b": {"k": 1}}
    assert doc.data["a"] is not doc.data["b"]


def test_syntax_error_gives_line_and_column(loader):
    with pytest.raises(YamlError) as info:
        parse_text("a: [1, 2\nb: 3\n", "t.yaml")
    (diag,) = info.value.diagnostics
    assert diag.code == "yaml-syntax"
    assert diag.line == 2


def test_special_keys_are_bracketed_in_paths():
    assert format_path(("properties", "a.b", 0)) == "$.properties['a.b'][0]"


def test_tag_on_a_key_is_a_tag_error(loader):
    with pytest.raises(YamlError) as info:
        parse_text("!!python/name:os.system : x\n", "t.yaml")
    (diag,) = info.value.diagnostics
    assert (diag.code, diag.line, diag.column) == ("yaml-tag", 1, 1)


@pytest.mark.parametrize("key", ["200", "true", "null", "1.5"])
def test_keys_that_resolve_to_non_strings_are_errors(loader, key: str):
    with pytest.raises(YamlError) as info:
        parse_text(f"{key}: x\n", "t.yaml")
    assert [d.code for d in info.value.diagnostics] == ["yaml-key-type"]


def test_control_character_is_located(loader):
    with pytest.raises(YamlError) as info:
        parse_text("a: ok\nb: x\x07y\n", "t.yaml")
    (diag,) = info.value.diagnostics
    assert (diag.code, diag.line, diag.column) == ("yaml-syntax", 2, 5)
    assert "#x0007" in diag.message


def test_tab_indentation_gets_a_hint(loader):
    with pytest.raises(YamlError) as info:
        parse_text("a:\n\tb: 1\n", "t.yaml")
    (diag,) = info.value.diagnostics
    assert (diag.code, diag.line) == ("yaml-syntax", 2)
    assert diag.hint == "YAML indents with spaces, not tabs"


def test_unpaired_surrogate_is_a_diagnostic_not_a_crash(loader):
    with pytest.raises(YamlError) as info:
        parse_text("a: \ud800\n", "t.yaml")
    assert [d.code for d in info.value.diagnostics] == ["yaml-syntax"]


@pytest.mark.parametrize(
    "parts",
    [(), ("states", "a", "transitions", 0, "target"), ("properties", "a.b", 3), ("x", "it's")],
)
def test_json_paths_round_trip(parts):
    assert parse_path(format_path(parts)) == parts


def test_location_by_json_path_string(loader):
    doc = parse_text("states:\n  referred:\n    transitions:\n      - target: done\n", "t")
    assert doc.location("$.states.referred.transitions[0].target") == (4, 17)
    assert doc.location("$.states.referred", key=True) == (2, 3)
    with pytest.raises(ValueError):
        doc.location("states.referred")
