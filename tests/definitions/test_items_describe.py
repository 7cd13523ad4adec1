"""`casework describe` and the diagrams show every item type and its lifecycle."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.definitions import load_workflow
from engine.definitions.describe import describe, describe_dict
from engine.definitions.diagram import render_dot, render_mermaid
from engine.definitions.diagram_items import render_text

DEMO = Path(__file__).resolve().parent.parent / "fixtures" / "valid" / "items_demo.yaml"


@pytest.fixture(scope="module")
def demo():
    return load_workflow(DEMO)


def _section(text: str, start: str, end: str | None = None) -> str:
    body = text[text.index(start) :]
    return body[: body.index(end)] if end else body


def test_describe_lists_item_types_with_states_events_timers_clocks_and_create(demo):
    text = describe(demo)
    overview = _section(text, "Item types", "Item referral")
    assert "referral" in overview
    assert "appointment" in overview
    referral = _section(text, "Item referral: Referral to a community provider", "Item appointment")
    assert "(at most 20 per case)" in referral
    assert "data: provider*, service*, sent_on, follow_ups" in referral
    assert "in case states: linking, referrals_pending, monitoring" in referral
    assert "then sends the case: referral_added" in referral
    for state in ("sent", "waitlisted", "accepted", "declined", "expired"):
        assert f"    {state} " in referral
    assert "referral_settled" in referral  # the case event column
    assert "no_answer  after P14D" in referral  # the timer
    assert "answer_due  sent, waitlisted  after 30 business days  answer_overdue" in referral
    appointment = _section(text, "Item appointment")
    assert "at item.data.date - P1D" in appointment
    assert "on scheduled remind -> (stays): remind_appointment" in appointment


def test_describe_without_items_has_no_item_section():
    text = describe(load_workflow(DEMO.parent / "referral.yaml"))
    assert "Item types" not in text


def test_describe_dict_has_the_items(demo):
    data = json.loads(json.dumps(describe_dict(demo)))
    names = [t["name"] for t in data["items"]]
    assert names == ["referral", "appointment"]
    referral = data["items"][0]
    assert referral["max"] == 20
    assert referral["create"]["in"] == ["linking", "referrals_pending", "monitoring"]
    assert referral["create"]["case_event"] == "referral_added"
    sent = referral["states"][0]
    assert sent["name"] == "sent"
    assert sent["initial"]
    assert sent["timers"][0]["when"] == "after P14D"
    assert sent["events"][0]["case_event"] == "referral_settled"
    assert referral["clocks"][0]["when"] == "after 30 business days"
    assert referral["location"]["line"] == 83


def test_mermaid_draws_each_item_lifecycle_as_its_own_composite_state(demo):
    text = render_mermaid(demo)
    assert 'state "Item referral\ua789 Referral to a community provider" as item_referral {' in text
    assert "        [*] --> item_referral__sent" in text
    assert (
        "        item_referral__sent --> item_referral__accepted : "
        "accepted / provider, case_manager ⇒ case referral_settled"
    ) in text
    assert "item_referral__sent : ↻ timer P14D no_answer" in text
    assert "clock answer_due after 30 business days answer_overdue" in text
    assert "        item_referral__expired --> [*]" in text
    assert 'state "Item appointment\ua789 Appointment" as item_appointment {' in text
    # every item transition with a target is drawn exactly once
    for item in demo.item_types.values():
        for t in item.transitions:
            if t.target is not None:
                edge = f"item_{item.name}__{t.source} --> item_{item.name}__{t.target} : "
                assert text.count(edge) >= 1


def test_mermaid_item_ids_do_not_collide_with_case_states(demo, tmp_path: Path):
    text = DEMO.read_text().replace(
        "  closed:\n    phase: closure", "  item_referral__sent:\n    phase: closure"
    )
    text = text.replace("target: closed\n", "target: item_referral__sent\n")
    path = tmp_path / "clash.yaml"
    path.write_text(text)
    rendered = render_mermaid(load_workflow(path))
    assert 'state "sent" as item_referral__sent_' in rendered


def test_dot_draws_each_item_lifecycle_as_a_cluster(demo):
    text = render_dot(demo)
    assert "subgraph cluster_item_referral {" in text
    assert "subgraph cluster_item_appointment {" in text
    assert '"__item__referral__start" -> "__item__referral__sent";' in text
    assert '"__item__referral__accepted" [label="accepted", peripheries=2];' in text
    assert (
        '"__item__referral__sent" -> "__item__referral__expired" '
        '[label="clock answer_due after 30 business days answer_overdue ⇒ case referral_settled"'
    ) in text
    assert text.rstrip().endswith("}")
    assert text.count("{") == text.count("}")


def test_text_diagram_lists_case_and_item_edges(demo):
    text = render_text(demo)
    assert "\nCase\n  [*] -> referred\n" in text
    assert "  referred -> assessing : accept / case_manager" in text
    assert "\nItem referral: Referral to a community provider\n  [*] -> sent\n" in text
    assert "  sent ↻ timer P14D no_answer" in text
    assert "  scheduled -> attended : attended / case_manager" in text


def test_cli_diagram_text_format(tmp_path: Path):
    out = subprocess.run(
        [sys.executable, "-m", "engine", "diagram", "--format", "text", str(DEMO)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "Item appointment: Appointment" in out.stdout


WORKFLOWS = sorted((Path(__file__).resolve().parents[2] / "workflows").glob("*.yaml"))


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_every_item_transition_of_the_bundled_workflows_is_drawn(path: Path):
    defn = load_workflow(path)
    mermaid_text = render_mermaid(defn)
    dot_text = render_dot(defn)
    for item in defn.item_types.values():
        assert f"subgraph cluster_item_{item.name} {{" in dot_text
        for t in item.transitions:
            if t.target is None:
                continue
            arrow = f"item_{item.name}__{t.source} --> item_{item.name}__{t.target} : "
            lines = [ln for ln in mermaid_text.splitlines() if arrow in ln]
            assert any(t.event in ln for ln in lines), (item.name, t.source, t.event)
            edge = f'"__item__{item.name}__{t.source}" -> "__item__{item.name}__{t.target}"'
            assert edge in dot_text
