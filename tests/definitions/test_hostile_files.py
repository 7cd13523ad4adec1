"""Hostile or broken files: one clear located line each, bounded time, no code execution."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from engine.definitions import check_paths, load_workflow
from engine.definitions.yaml_reader import MAX_BYTES, MAX_NODES
from engine.errors import DefinitionError

HOSTILE = Path(__file__).resolve().parent.parent / "fixtures" / "hostile"

pytestmark = pytest.mark.timeout(30)

# fixture -> (code, line, column, message fragment)
CASES = {
    "billion_laughs.yaml": ("yaml-alias-bomb", None, None, f"more than {MAX_NODES} extra nodes"),
    "deep_nesting.yaml": ("yaml-too-deep", 1, 70, "nesting is too deep"),
    "empty.yaml": ("yaml-empty", 1, 1, "file is empty"),
    "latin1.yaml": ("yaml-encoding", 2, 11, "not valid UTF-8"),
    "python_tag.yaml": ("yaml-tag", 1, 7, "'!!python/object/apply:os.system' is not allowed"),
    "syntax_error.yaml": ("yaml-syntax", 6, 4, "YAML syntax error"),
}


def _single_diagnostic(path: Path) -> str:
    with pytest.raises(DefinitionError) as info:
        load_workflow(path)
    diags = info.value.diagnostics
    assert len(diags) == 1, [str(d) for d in diags]
    text = str(diags[0])
    assert "\n" not in text
    assert "Traceback" not in info.value.message
    return text


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_file_gives_one_located_line(name: str, loader: str):
    code, line, column, fragment = CASES[name]
    path = HOSTILE / name
    with pytest.raises(DefinitionError) as info:
        load_workflow(path)
    (diag,) = info.value.diagnostics
    assert diag.code == code
    assert fragment in diag.message
    assert diag.file == str(path)
    if line is not None:
        assert (diag.line, diag.column) == (line, column)
    assert "\n" not in str(diag)


def test_alias_bomb_is_rejected_in_bounded_memory(loader: str):
    tracemalloc.start()
    try:
        report = check_paths([HOSTILE / "billion_laughs.yaml"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [d.code for d in report.diagnostics] == ["yaml-alias-bomb"]
    assert peak < 200 * 1024 * 1024


def test_alias_bomb_points_at_the_alias_that_went_over_the_limit():
    (diag,) = check_paths([HOSTILE / "billion_laughs.yaml"]).diagnostics
    assert diag.line > 2  # an alias, not the top of the file


def test_python_tag_is_never_constructed(tmp_path: Path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.yaml"
    path.write_text(f'name: !!python/object/apply:os.system ["touch {marker}"]\n')
    _single_diagnostic(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "text",
    [
        "a: !!python/name:os.system\n",
        "a: !!python/object/new:subprocess.Popen [[ls]]\n",
        "a: !custom thing\n",
        "a: !!binary aGVsbG8=\n",
        "a: !!set {x}\n",
    ],
)
def test_non_standard_tags_are_located_errors(tmp_path: Path, text: str):
    path = tmp_path / "tagged.yaml"
    path.write_text(text)
    (diag,) = check_paths([path]).diagnostics
    assert (diag.code, diag.line, diag.column, diag.json_path) == ("yaml-tag", 1, 4, "$.a")


def test_file_over_one_mebibyte_is_rejected_before_parsing(tmp_path: Path):
    path = tmp_path / "huge.yaml"
    line = "# " + "x" * 1022 + "\n"
    path.write_text(line * (2 * 1024))  # 2 MiB
    assert path.stat().st_size > MAX_BYTES
    text = _single_diagnostic(path)
    assert "too large" in text
    assert check_paths([path]).diagnostics[0].code == "yaml-too-large"


def test_file_just_under_the_limit_is_parsed(tmp_path: Path):
    path = tmp_path / "big.yaml"
    path.write_text("a: 1\n" + ("# " + "x" * 1000 + "\n") * 1000)
    assert path.stat().st_size < MAX_BYTES
    codes = {d.code for d in check_paths([path]).diagnostics}
    assert codes == {"missing-property", "unknown-property"}  # workflow errors, not size


def test_recursive_alias_is_bounded(tmp_path: Path, loader: str):
    path = tmp_path / "loop.yaml"
    path.write_text("a: &x [*x]\n")
    (diag,) = check_paths([path]).diagnostics
    assert diag.code in {"yaml-too-deep", "yaml-alias-bomb"}


def test_deep_block_nesting_is_rejected(tmp_path: Path, loader: str):
    path = tmp_path / "deep_block.yaml"
    path.write_text("".join(f"{' ' * i}k{i}:\n" for i in range(200)) + " " * 200 + "x: 1\n")
    (diag,) = check_paths([path]).diagnostics
    assert diag.code == "yaml-too-deep"


def test_on_off_yes_no_stay_names():
    definition = load_workflow(HOSTILE / "on_state.yaml")
    assert "on" in definition.states
    assert "yes" in definition.events
    assert "no" in definition.roles
    assert definition.transitions_from("assess")[0].target == "on"


def test_top_level_list_is_rejected(tmp_path: Path):
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    (diag,) = check_paths([path]).diagnostics
    assert diag.code == "yaml-not-mapping"


def test_two_documents_in_one_file_are_rejected(tmp_path: Path):
    path = tmp_path / "two.yaml"
    path.write_text("a: 1\n---\nb: 2\n")
    (diag,) = check_paths([path]).diagnostics
    assert (diag.code, diag.line) == ("yaml-syntax", 2)


def test_merge_keys_are_rejected(tmp_path: Path):
    path = tmp_path / "merge.yaml"
    path.write_text("base: &b {x: 1}\nother:\n  <<: *b\n")
    (diag,) = check_paths([path]).diagnostics
    assert (diag.code, diag.line, diag.column) == ("yaml-merge-key", 3, 3)


def test_missing_file_is_a_diagnostic(tmp_path: Path):
    report = check_paths([tmp_path / "nope.yaml"])
    assert [d.code for d in report.diagnostics] == ["file-not-found"]


def test_many_written_nodes_are_not_mistaken_for_an_alias_bomb(tmp_path: Path):
    path = tmp_path / "wide.yaml"
    path.write_text("enum: [" + ",".join(["1"] * (MAX_NODES + 10_000)) + "]\n")
    codes = {d.code for d in check_paths([path]).diagnostics}
    assert "yaml-alias-bomb" not in codes
    assert "unknown-property" in codes


def test_thousands_of_typos_are_checked_in_bounded_work(tmp_path: Path):
    states = "".join(
        f"  s{i}:\n    phase: intake\n    description: d\n"
        f"    transitions: [{{event: go, target: x{i}, roles: [cm]}}]\n"
        for i in range(1500)
    )
    path = tmp_path / "typos.yaml"
    path.write_text(
        "name: big\nversion: 1\ntitle: T\ndescription: D\nmodel: clinical\ninitial: s0\n"
        "case_schema: {type: object}\nroles: {cm: {description: C}}\nstates:\n" + states
    )
    diags = check_paths([path]).diagnostics
    unknown = [d for d in diags if d.code == "unknown-target"]
    assert len(unknown) == 1500
    assert sum(1 for d in unknown if d.hint) < 1500  # hints stop when the budget is spent
