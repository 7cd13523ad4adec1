"""Mermaid and Graphviz renderings of workflows: every state, every timer edge, clusters."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from engine.definitions import load_workflow
from engine.definitions.describe import timer_short
from engine.definitions.diagram import (
    dot_quote,
    mermaid_text,
    render_dot,
    render_mermaid,
    transition_label,
)
from engine.definitions.model import (
    PREVIOUS_STATE,
    Duration,
    Model,
    Phase,
    Role,
    SourceLocation,
    State,
    Timer,
    TimerKind,
    Transition,
    WorkflowDefinition,
)

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_FILES = sorted((ROOT / "workflows").glob("*.yaml"))
DOT = shutil.which("dot")

EDGE = re.compile(r"^\s*(\S+) --> (\S+)(?: : (.*))?$")
ALIAS = re.compile(r'^\s*state "([^"]*)" as (\S+)')


def sample() -> WorkflowDefinition:
    """A small workflow exercising every drawing rule, built without the loader."""
    shared_loc = SourceLocation("sample.yaml", 90, 5)
    open_states = ["referred", "note", "assessing", "planning", "monitoring", "on_hold"]
    states = {
        "referred": State(
            "referred",
            Phase.INTAKE,
            'Referral "received" \\ 50%% <b>x</b>: call, direction lr; then more text.',
            timers=(
                Timer(
                    "first_contact",
                    "referred",
                    "first_contact_overdue",
                    TimerKind.BUSINESS_DAYS,
                    business_days=3,
                ),
            ),
        ),
        "note": State("note", Phase.INTAKE, "A state whose name is a Mermaid keyword."),
        "assessing": State(
            "assessing",
            Phase.ASSESSMENT,
            "Needs assessment.",
            timers=(
                Timer(
                    "assessment_due",
                    "assessing",
                    "assessment_overdue",
                    TimerKind.AFTER,
                    after=Duration("P14D", days=14),
                ),
            ),
        ),
        "planning": State(
            "planning",
            Phase.PLANNING,
            "Care plan.",
            timers=(
                Timer(
                    "discharge_follow_up",
                    "planning",
                    "follow_up_due",
                    TimerKind.AT,
                    at="case.discharge_date",
                    offset=Duration("P30D", days=30),
                ),
            ),
        ),
        "monitoring": State(
            "monitoring",
            Phase.MONITORING,
            "Weekly contact.",
            timers=(
                Timer(
                    "weekly_contact",
                    "monitoring",
                    "contact_due",
                    TimerKind.EVERY,
                    every=Duration("P7D", days=7),
                ),
            ),
        ),
        "on_hold": State("on_hold", Phase.MONITORING, "Hospitalised.", hold=True),
        "closed": State("closed", Phase.CLOSURE, "Goals met.", final=True),
        "withdrawn": State("withdrawn", Phase.CLOSURE, "Client withdrew.", final=True),
    }
    transitions = [
        Transition("referred", "contact_made", "note", roles=("intake_coordinator",)),
        Transition("referred", "add_note", None, roles=("intake_coordinator",)),
        Transition("referred", "first_contact_overdue", "assessing"),
        Transition("note", "screened", "assessing", roles=("intake_coordinator",)),
        Transition(
            "assessing",
            "assessment_done",
            "planning",
            guard='case.risk == "high" && event.score < 3',
            roles=("case_manager", "supervisor"),
            writes=(("risk", "risk"),),
        ),
        Transition("assessing", "assessment_overdue", None, actions=("notify_supervisor",)),
        Transition("planning", "plan_done", "monitoring", roles=("case_manager",)),
        Transition("planning", "follow_up_due", None),
        Transition("monitoring", "contact_due", None),
        Transition("monitoring", "goals_met", "closed", roles=("case_manager",)),
        Transition("on_hold", "resume", PREVIOUS_STATE, roles=("case_manager",)),
    ]
    for source in open_states:
        if source != "on_hold":
            transitions.append(
                Transition(source, "put_on_hold", "on_hold", roles=("case_manager",))
            )
        transitions.append(
            Transition(
                source, "withdraw", "withdrawn", roles=("case_manager",), location=shared_loc
            )
        )
    return WorkflowDefinition(
        name="sample",
        version=2,
        title="Sample: program",
        description="For the renderer tests.",
        model=Model.INTENSIVE,
        initial="referred",
        case_schema={"type": "object"},
        roles={r: Role(r) for r in ("intake_coordinator", "case_manager", "supervisor")},
        states=states,
        transitions=tuple(transitions),
    )


def mermaid_ids(text: str) -> dict[str, str]:
    """State name -> Mermaid id (aliases declared with `state "name" as id`)."""
    return {m.group(1): m.group(2) for line in text.splitlines() if (m := ALIAS.match(line))}


def mermaid_edges(text: str) -> list[tuple[str, str, str]]:
    return [
        (m.group(1), m.group(2), m.group(3) or "")
        for line in text.splitlines()
        if (m := EDGE.match(line))
    ]


# -- Mermaid ------------------------------------------------------------------------


def test_mermaid_starts_at_initial_and_ends_at_every_final_state() -> None:
    text = render_mermaid(sample())
    edges = mermaid_edges(text)
    assert text.startswith("stateDiagram-v2\n")
    assert ("[*]", "referred", "") in edges
    assert ("closed", "[*]", "") in edges
    assert ("withdrawn", "[*]", "") in edges


def test_mermaid_puts_used_phases_as_composite_states_in_phase_order() -> None:
    text = render_mermaid(sample())
    order = [m.group(1) for m in re.finditer(r'^    state "([^"]+)" as phase_\w+ \{', text, re.M)]
    assert order == ["Intake", "Assessment", "Planning", "Monitoring", "Closure"]
    assert "Service delivery" not in text


def test_mermaid_labels_transitions_with_event_guard_and_roles() -> None:
    edges = mermaid_edges(render_mermaid(sample()))
    labels = {(a, b): label for a, b, label in edges}
    assert labels[("assessing", "planning")] == (
        "assessment_done [case.risk == 'high' && event.score \u2039 3] / case_manager, supervisor"
    )


def test_mermaid_draws_each_timer_edge_with_its_kind_and_duration() -> None:
    edges = mermaid_edges(render_mermaid(sample()))
    timer_edges = {(a, b, label) for a, b, label in edges if label.startswith("timer ")}
    assert timer_edges == {
        ("referred", "assessing", "timer 3 business days first_contact_overdue"),
        ("assessing", "assessing", "timer P14D assessment_overdue"),
        ("planning", "planning", "timer at case.discharge_date + P30D follow_up_due"),
        ("monitoring", "monitoring", "timer every P7D contact_due"),
    }


def test_mermaid_draws_a_shared_transition_once_from_a_summary_state() -> None:
    text = render_mermaid(sample())
    withdraw = [e for e in mermaid_edges(text) if e[2].startswith("withdraw")]
    assert len(withdraw) == 1
    source = withdraw[0][0]
    labels = {v: k for k, v in mermaid_ids(text).items()}
    assert labels[source] == "any open state"
    hold = [e for e in mermaid_edges(text) if e[2].startswith("put_on_hold")]
    assert len(hold) == 1
    assert labels[hold[0][0]] == "any open state except on_hold"


def test_mermaid_shows_internal_transitions_inside_the_state_not_as_edges() -> None:
    text = render_mermaid(sample())
    assert "referred : ↻ add_note / intake_coordinator" in text
    assert not [e for e in mermaid_edges(text) if e[2].startswith("add_note")]


def test_mermaid_draws_resume_to_previous_state_as_one_pseudo_state() -> None:
    text = render_mermaid(sample())
    ids = mermaid_ids(text)
    assert ("on_hold", ids["↩ previous state"], "resume / case_manager") in mermaid_edges(text)


def test_mermaid_aliases_state_names_the_lexer_reads_as_keywords() -> None:
    text = render_mermaid(sample())
    ids = mermaid_ids(text)
    assert ids["note"] == "st_note"
    assert ("referred", "st_note", "contact_made / intake_coordinator") in mermaid_edges(text)
    assert not re.search(r"^\s*note\b", text, re.M)


def test_mermaid_escapes_characters_that_end_statements_or_start_comments() -> None:
    text = render_mermaid(sample())
    description_lines = [ln for ln in text.splitlines() if ln.strip().startswith("referred : ")]
    assert description_lines
    for line in description_lines:
        body = line.split(" : ", 1)[1]
        assert ":" not in body
        assert ";" not in body
        assert "%%" not in body
        assert "<" not in body
        assert not re.search(r"direction\s+(tb|bt|rl|lr)", body, re.I)
    assert not re.search(r'state "[^"\n]*"[^"\n]*"', text)


def test_mermaid_text_keeps_plain_text_unchanged() -> None:
    assert mermaid_text("withdraw / case_manager, supervisor") == (
        "withdraw / case_manager, supervisor"
    )


def test_mermaid_output_is_deterministic() -> None:
    assert render_mermaid(sample()) == render_mermaid(sample())


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.stem)
def test_mermaid_of_bundled_workflow_has_every_state_and_timer_edge(path: Path) -> None:
    defn = load_workflow(path)
    text = render_mermaid(defn)
    ids = {name: name for name in defn.states} | mermaid_ids(text)
    declared = {ln.strip() for ln in text.splitlines()} | set(mermaid_ids(text).values())
    for name in defn.states:
        assert ids[name] in declared, name
    edges = mermaid_edges(text)
    for state in defn.states.values():
        for timer in state.timers:
            # long `at` expressions are shortened on the edge; durations never are
            wanted = timer_short(timer) if timer.kind is not TimerKind.AT else "timer at "
            assert any(
                a == ids[state.name]
                and part.startswith("timer ")
                and wanted in part
                and f" {timer.event}" in part
                for a, _, label in edges
                for part in label.split("<br/>")
            ), (state.name, timer.name)


# -- DOT ----------------------------------------------------------------------------


def test_dot_has_one_cluster_per_used_phase() -> None:
    text = render_dot(sample())
    clusters = re.findall(r"subgraph (cluster_\w+) \{", text)
    assert clusters == [
        "cluster_intake",
        "cluster_assessment",
        "cluster_planning",
        "cluster_monitoring",
        "cluster_closure",
    ]


def test_dot_draws_timer_edges_dashed_with_their_duration() -> None:
    text = render_dot(sample())
    timer_lines = [ln for ln in text.splitlines() if "timer " in ln and "->" in ln]
    assert len(timer_lines) == 4
    assert all("style=dashed" in ln for ln in timer_lines)
    assert '"assessing" -> "assessing" [label="timer P14D assessment_overdue"' in text


def test_dot_quote_escapes_quotes_backslashes_and_newlines() -> None:
    assert dot_quote('a "b" \\ c\nd') == '"a \\"b\\" \\\\ c\\nd"'


def test_transition_label_shortens_long_guards() -> None:
    t = Transition("a", "go", "b", guard="x" * 200, roles=("r",))
    label = transition_label(t)
    assert label.startswith("go [x")
    assert label.endswith("…] / r")
    assert len(label) < 80


def _graphviz_json(text: str) -> dict[str, object]:
    assert DOT is not None
    result = subprocess.run(
        [DOT, "-Tjson"], input=text.encode(), capture_output=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr.decode()
    data: dict[str, object] = json.loads(result.stdout)
    return data


@pytest.mark.skipif(DOT is None, reason="Graphviz `dot` not installed (apt-get install graphviz)")
@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.stem)
def test_dot_of_bundled_workflow_parses_with_graphviz(path: Path) -> None:
    defn = load_workflow(path)
    data = _graphviz_json(render_dot(defn))
    objects = data["objects"]
    assert isinstance(objects, list)
    names = {o["name"] for o in objects}
    used_phases = {str(s.phase) for s in defn.states.values()}
    assert {n for n in names if n.startswith("cluster_")} == {f"cluster_{p}" for p in used_phases}
    assert set(defn.states) <= names


@pytest.mark.skipif(DOT is None, reason="Graphviz `dot` not installed (apt-get install graphviz)")
def test_dot_with_special_characters_parses_with_graphviz() -> None:
    data = _graphviz_json(render_dot(sample()))
    labels = [o.get("label", "") for o in data["objects"]]  # type: ignore[union-attr]
    # Graphviz keeps escape sequences in labels but has unescaped the quotes.
    assert any('Referral "received"' in str(label) for label in labels)
