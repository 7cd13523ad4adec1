"""No edge lost: every transition drawn, self-loops merged; highlights; real renderers.

Mermaid's layout keeps one self-loop per state (at this branch's start 15 timer
edges vanished across the bundled workflows, the hospital's Medicare notice
deadlines among them) and Graphviz stacks self-loops on top of each other:
the renderers merge a state's self-loops into one edge labelled one line per
transition, and these tests count edges in the definition, in the text and,
where mermaid-cli (``mmdc``) and Graphviz (``dot``) are installed, in what
they draw.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from engine.definitions import load_workflow
from engine.definitions.diagram import (
    MERMAID_LINE_BREAK,
    drawn_edges,
    mermaid,
    render_dot,
    render_mermaid,
)
from engine.definitions.model import WorkflowDefinition

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_FILES = sorted((ROOT / "workflows").glob("*.yaml"))
MMDC = shutil.which("mmdc")
DOT = shutil.which("dot")
CHROMIUM = os.environ.get("PUPPETEER_EXECUTABLE_PATH") or shutil.which("chromium")

EDGE = re.compile(r"^\s*(\S+) --> (\S+)(?: : (.*))?$")
ALIAS = re.compile(r'^\s*state "([^"]*)" as (\S+)')
MMDC_MISSING = (
    "LOUD SKIP: mermaid-cli not installed, Mermaid renders NOT checked "
    "(PUPPETEER_SKIP_DOWNLOAD=1 npm install -g @mermaid-js/mermaid-cli; "
    "apt-get install chromium)"
)


def ir_edges(defn: WorkflowDefinition) -> Counter[tuple[str, str]]:
    """(event, target) per arrow the definition implies, counted from the IR alone.

    A transition with a target is an arrow; a timer-driven one is an arrow per
    timer of its source that sends the event (an internal one loops back).
    Internal transitions without a timer are written inside the state box.
    Identical transitions from three or more states are drawn once (a shared
    arrow), so they count once here too.
    """
    counts: Counter[tuple[str, str]] = Counter()
    seen_shared: set[tuple[object, ...]] = set()
    for t in defn.transitions:
        timers = [tm for tm in defn.states[t.source].timers if tm.event == t.event]
        target = t.target or t.source
        if timers:
            counts[(t.event, target)] += len(timers)
            continue
        if t.target is None:
            continue
        sources = {
            u.source
            for u in defn.transitions
            if (u.event, u.target, u.guard, u.roles, u.location)
            == (t.event, t.target, t.guard, t.roles, t.location)
        }
        if len(sources) >= 3:
            key = (t.event, t.target, t.guard, t.roles, t.location)
            if key in seen_shared:
                continue
            seen_shared.add(key)
        counts[(t.event, target)] += 1
    return counts


def mermaid_edge_parts(text: str) -> list[tuple[str, str, str]]:
    """(source id, target id, one label line) per labelled arrow line (merged loops split)."""
    parts = []
    for line in text.splitlines():
        m = EDGE.match(line)
        if m and m.group(3):
            parts += [(m.group(1), m.group(2), p) for p in m.group(3).split(MERMAID_LINE_BREAK)]
    return parts


def case_part(text: str) -> str:
    """The Mermaid text without the item lifecycles (composite states "Item ...")."""
    kept: list[str] = []
    inside = False
    for line in text.splitlines():
        if line.startswith('    state "Item ') and line.endswith("{"):
            inside = True
        elif inside and line == "    }":
            inside = False
        elif not inside and not line.strip().startswith("class item_"):
            kept.append(line)
    return "\n".join(kept) + "\n"


def event_of(label: str) -> str:
    """The event of an edge label: ``timer P14D x [g] / r`` and ``x [g] / r`` give ``x``."""
    words = label.split(" [")[0].split(" / ")[0].split()
    return words[-1]


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.stem)
def test_mermaid_draws_as_many_arrows_per_event_as_the_definition_has(path: Path) -> None:
    defn = load_workflow(path)
    text = case_part(render_mermaid(defn))  # item lifecycles: tests/definitions/test_items_*
    ids = {name: name for name in defn.states} | {
        m.group(1): m.group(2) for ln in text.splitlines() if (m := ALIAS.match(ln))
    }
    names = {v: k for k, v in ids.items()}
    names[ids.get("↩ previous state", "previous_state")] = "@previous"
    drawn: Counter[tuple[str, str]] = Counter(
        (event_of(label), names[b]) for _, b, label in mermaid_edge_parts(text)
    )
    assert drawn == ir_edges(defn)
    assert len(mermaid_edge_parts(text)) == len(drawn_edges(defn))


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.stem)
def test_mermaid_has_at_most_one_self_loop_per_state(path: Path) -> None:
    text = render_mermaid(load_workflow(path))
    loops = Counter(
        m.group(1) for ln in text.splitlines() if (m := EDGE.match(ln)) and m.group(1) == m.group(2)
    )
    assert loops
    assert max(loops.values()) == 1


def test_hospital_follow_up_state_keeps_its_three_loops_on_one_edge() -> None:
    # The admission deadlines are case clocks now (not drawn as state timers); the
    # post-discharge state still has three transitions back to itself.
    defn = load_workflow(ROOT / "workflows" / "hospital.yaml")
    state = "awaiting_follow_up_visit"
    loops = [
        (a, label) for a, b, label in mermaid_edge_parts(render_mermaid(defn)) if a == b == state
    ]
    assert len(loops) == 3
    merged = [ln for ln in render_mermaid(defn).splitlines() if f"{state} --> {state}" in ln]
    assert len(merged) == 1


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.stem)
def test_diagrams_need_no_emoji_font(path: Path) -> None:
    defn = load_workflow(path)
    for text in (render_mermaid(defn), render_dot(defn)):
        # Emoji and pictographs (U+1F000 up) and the emoji-presentation clock/timer signs.
        assert not re.search("[\U0001f000-\U0001faff\u231a\u231b\u23e9-\u23fa]", text)


# -- highlight and path -------------------------------------------------------------


def hospital() -> WorkflowDefinition:
    return load_workflow(ROOT / "workflows" / "hospital.yaml")


def test_mermaid_marks_the_current_state_and_the_states_passed() -> None:
    defn = hospital()
    path = ["admitted", "concurrent_review", "concurrent_review", "discharge_planning"]
    text = mermaid(defn, highlight="discharge_planning", path=path)
    assert "    class discharge_planning current" in text
    assert "    class admitted,concurrent_review visited" in text
    assert "accDescr: current state discharge_planning" in text
    assert "classDef current" in text


def test_mermaid_without_highlight_has_no_highlight_classes() -> None:
    text = mermaid(hospital())
    assert "classDef current" not in text
    assert "classDef visited" not in text
    assert not re.search(r" (current|visited)$", text, re.M)


def test_highlight_of_a_state_the_workflow_lacks_is_refused() -> None:
    with pytest.raises(ValueError, match="no state 'nowhere'"):
        mermaid(hospital(), highlight="nowhere")
    with pytest.raises(ValueError, match="no state 'nowhere'"):
        render_dot(hospital(), path=["admitted", "nowhere"])


def test_dot_draws_the_edges_the_case_took_bold() -> None:
    defn = hospital()
    path = ["admitted", "concurrent_review"]
    text = render_dot(defn, highlight="concurrent_review", path=path)
    bold = [ln for ln in text.splitlines() if "->" in ln and "penwidth=2.5" in ln]
    assert bold
    assert all(ln.startswith('  "admitted" -> "concurrent_review"') for ln in bold)
    assert '"concurrent_review" [label=' in text
    current = next(ln for ln in text.splitlines() if ln.startswith('    "concurrent_review" ['))
    assert "penwidth=3" in current


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.stem)
def test_dot_merges_self_loops_into_one_left_aligned_label(path: Path) -> None:
    defn = load_workflow(path)
    text = render_dot(defn)
    loops = re.findall(r'^  "(\w+)" -> "\1" \[label="((?:[^"\\]|\\.)*)"', text, re.M)
    assert loops
    assert len({s for s, _ in loops}) == len(loops)
    lines = sum(label.count("\\l") or 1 for _, label in loops)
    assert lines == sum(1 for a, b, _ in drawn_edges(defn) if a == b)


# -- the real renderers ---------------------------------------------------------------


def _mmdc(tmp_path: Path, diagrams: list[str]) -> list[str]:
    """Render each Mermaid text with mermaid-cli (one browser for all); the SVGs."""
    assert MMDC is not None
    config = tmp_path / "puppeteer.json"
    config.write_text(
        json.dumps({"executablePath": CHROMIUM, "args": ["--no-sandbox", "--disable-gpu"]})
    )
    doc = tmp_path / "diagrams.md"
    doc.write_text("".join(f"```mermaid\n{d}```\n\n" for d in diagrams), encoding="utf-8")
    result = subprocess.run(
        [MMDC, "-q", "-p", str(config), "-i", str(doc), "-o", str(tmp_path / "out.md")],
        capture_output=True,
        check=False,
        timeout=300,
        env={**os.environ, "PUPPETEER_SKIP_DOWNLOAD": "1"},
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    return [
        (tmp_path / f"out-{i}.svg").read_text(encoding="utf-8") for i in range(1, len(diagrams) + 1)
    ]


def svg_edge_label_lines(svg: str) -> list[str]:
    labels = re.findall(r'<span class="edgeLabel"><p>(.*?)</p></span>', svg, re.S)
    return [html.unescape(p) for label in labels if label for p in label.split("<br />")]


@pytest.mark.skipif(MMDC is None or CHROMIUM is None, reason=MMDC_MISSING)
def test_mermaid_cli_draws_every_edge_of_every_bundled_workflow(tmp_path: Path) -> None:
    defns = [load_workflow(p) for p in WORKFLOW_FILES]
    texts = [render_mermaid(d) for d in defns]
    texts.append(mermaid(defns[0], highlight=defns[0].initial, path=[defns[0].initial]))
    svgs = _mmdc(tmp_path, texts)
    for defn, text, svg in zip(defns, texts, svgs, strict=False):
        arrows = sum(1 for ln in text.splitlines() if EDGE.match(ln))
        assert svg.count('transition"') == arrows, defn.name
        assert len(svg_edge_label_lines(svg)) == len(drawn_edges(defn)), defn.name
        assert "⏱" not in svg
    current = re.findall(r'<g class="node current statediagram-state" id="([^"]+)"', svgs[-1])
    assert len(current) == 1
    assert f"-state-{defns[0].initial}-" in current[0]


@pytest.mark.skipif(DOT is None, reason="Graphviz `dot` not installed (apt-get install graphviz)")
@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.stem)
def test_graphviz_draws_one_loop_per_state_and_every_edge(path: Path) -> None:
    assert DOT is not None
    defn = load_workflow(path)
    result = subprocess.run(
        [DOT, "-Tjson"], input=render_dot(defn).encode(), capture_output=True, check=True
    )
    data = json.loads(result.stdout)
    names = {o["_gvid"]: o["name"] for o in data["objects"]}
    pairs = Counter((names[e["tail"]], names[e["head"]]) for e in data["edges"])
    loops = {a: n for (a, b), n in pairs.items() if a == b}
    assert loops
    assert set(loops.values()) == {1}
    # every drawn edge plus start and the final-state arrows
    assert len(data["edges"]) == len(render_dot(defn).split(" -> ")) - 1
