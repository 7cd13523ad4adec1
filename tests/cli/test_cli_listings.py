"""CLI listings tell the whole truth: pages with cursors and totals, most late first,
whole ids and dates, NO_COLOR, bulk retry of failed actions, diagrams of a case."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.cli import _common
from engine.cli.main import main
from engine.clock import ManualClock
from engine.runtime.engine import Engine

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "workflows"
RECORD = {"patient_id": "P-0001", "program": "housing", "priority": "routine", "risk_level": "low"}
CM = {"actor": "cm-17", "roles": ["case_manager", "intake_coordinator"]}
COLOUR = re.compile(r"\x1b\[[0-9;]*(3[0-9]|9[0-7])m")


def cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def at(*ymd: int) -> ManualClock:
    return ManualClock(datetime(*ymd, 9, 0, tzinfo=UTC))


@pytest.fixture
def three(database_url):
    """Opened first but due second (``early``), opened second but due first (``moved``),
    and one opened now (``fresh``, its deadline still ahead)."""
    with Engine.open(database_url, workflows=WORKFLOWS, clock=at(2020, 1, 1)) as eng:
        early = eng.open_case("brokerage", RECORD, **CM).id  # first contact due ~2020-01-15
    with Engine.open(database_url, workflows=WORKFLOWS, clock=at(2020, 1, 6)) as eng:
        moved = eng.open_case("brokerage", RECORD, **CM).id
        eng.send(moved, "found_ineligible", {}, **CM)  # closing review due 2020-01-13
    with Engine.open(database_url, workflows=WORKFLOWS) as eng:
        fresh = eng.open_case("brokerage", RECORD, **CM).id
    return {"url": database_url, "early": early, "moved": moved, "fresh": fresh}


def listed(capsys, url, *argv):
    code, out, err = cli(capsys, "cases", "list", "--database-url", url, "--json", *argv)
    assert code == 0, err
    return json.loads(out)


def test_cases_list_says_how_many_match_and_how_to_get_the_rest(three, capsys):
    code, out, err = cli(capsys, "cases", "list", "--database-url", three["url"], "--limit", "2")
    assert code == 0
    assert three["early"] in out
    assert three["moved"] in out
    assert three["fresh"] not in out
    note = re.search(r"showing 2 of 3 cases; more exist: add --cursor (\S+)", err)
    assert note is not None
    code, out, err = cli(
        capsys, "cases", "list", "--database-url", three["url"], "--cursor", note.group(1)
    )
    assert code == 0
    assert three["fresh"] in out
    assert three["early"] not in out
    assert "1 of 3 cases" in err


def test_cases_list_json_has_items_next_cursor_and_total(three, capsys):
    first = listed(capsys, three["url"], "--limit", "2")
    assert first["total"] == 3
    assert [c["id"] for c in first["items"]] == [three["early"], three["moved"]]
    assert first["next_cursor"]
    rest = listed(capsys, three["url"], "--limit", "2", "--cursor", first["next_cursor"])
    assert [c["id"] for c in rest["items"]] == [three["fresh"]]
    assert rest["next_cursor"] is None


def test_cases_list_all_follows_every_page(three, capsys, monkeypatch):
    monkeypatch.setattr(_common, "PAGE_SIZE", 1)
    every = listed(capsys, three["url"], "--all")
    assert len(every["items"]) == 3
    assert every["next_cursor"] is None
    assert every["total"] == 3


def test_cases_list_sort_due_puts_the_most_late_first(three, capsys):
    by_due = listed(capsys, three["url"], "--sort", "due")
    assert [c["id"] for c in by_due["items"]] == [three["moved"], three["early"], three["fresh"]]
    assert by_due["sort"] == "due"
    by_opened = listed(capsys, three["url"])
    assert [c["id"] for c in by_opened["items"]] == [three["early"], three["moved"], three["fresh"]]


def test_a_cursor_of_one_order_is_refused_by_the_other(three, capsys):
    first = listed(capsys, three["url"], "--limit", "1", "--sort", "due")
    code, _, err = cli(
        capsys, "cases", "list", "--database-url", three["url"], "--cursor", first["next_cursor"]
    )
    assert code == 2
    assert "--cursor" in err


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(limit=st.integers(min_value=1, max_value=4), sort=st.sampled_from(["opened", "due"]))
def test_pages_joined_are_the_whole_listing_in_order(three, capsys, limit, sort):
    whole = [c["id"] for c in listed(capsys, three["url"], "--sort", sort)["items"]]
    joined: list[str] = []
    cursor: list[str] = []
    while True:
        page = listed(capsys, three["url"], "--sort", sort, "--limit", str(limit), *cursor)
        joined += [c["id"] for c in page["items"]]
        if page["next_cursor"] is None:
            break
        cursor = ["--cursor", page["next_cursor"]]
    assert joined == whole


def test_cases_list_runs_the_overdue_query_only_with_overdue(three, capsys, monkeypatch):
    calls: list[object] = []
    real = Engine.find

    def spy(self, **kwargs):
        calls.append(kwargs.get("overdue"))
        return real(self, **kwargs)

    monkeypatch.setattr(Engine, "find", spy)
    flags = {c["id"]: c["overdue"] for c in listed(capsys, three["url"])["items"]}
    assert calls == [None]
    assert flags == {three["early"]: True, three["moved"]: True, three["fresh"]: False}
    calls.clear()
    overdue = listed(capsys, three["url"], "--overdue")
    assert calls == [True]
    assert {c["id"] for c in overdue["items"]} == {three["early"], three["moved"]}


# -- tables -------------------------------------------------------------------------


def rows_with_long_ids() -> list[tuple[object, ...]]:
    opened = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    return [
        (f"case-{i:04d}-0123456789abcdef0123456789abcdef", "hospital v1", "x " * 30, opened, "")
        for i in range(3)
    ] + [("case-short", "hospital v1", "admitted", opened, "OVERDUE")]


HEADERS = ["ID", "WORKFLOW", "STATE", "OPENED", "OVERDUE"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("width", [60, 80, 120])
def test_tables_at_a_terminal_never_cut_ids_or_dates(width, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = Terminal()
    _common.table(rows_with_long_ids(), HEADERS, out=out, max_width=width)
    text = COLOUR.sub("", re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue()))
    for row in rows_with_long_ids():
        assert str(row[0]) in text
    assert text.count("2026-03-02 09:30") == 4
    assert "…" not in text


def test_tables_piped_are_plain_and_whole():
    out = io.StringIO()
    _common.table(rows_with_long_ids(), HEADERS, out=out, max_width=40)
    assert "\x1b[" not in out.getvalue()
    assert ("x " * 30).strip() in out.getvalue()


def test_no_color_turns_colour_off_at_a_terminal(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    coloured = Terminal()
    _common.table(rows_with_long_ids(), HEADERS, out=coloured, max_width=200)
    assert COLOUR.search(coloured.getvalue())
    monkeypatch.setenv("NO_COLOR", "1")
    plain = Terminal()
    _common.table(rows_with_long_ids(), HEADERS, out=plain, max_width=200)
    assert not COLOUR.search(plain.getvalue())
    assert "OVERDUE" in plain.getvalue()


def test_wide_prints_every_cell_on_one_line_even_at_a_terminal():
    out = Terminal()
    _common.table(rows_with_long_ids(), HEADERS, out=out, max_width=40, wide=True)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 + len(rows_with_long_ids())
    assert "\x1b[" not in out.getvalue()


# -- outbox -------------------------------------------------------------------------


@pytest.fixture
def dead_letters(database_url):
    """Three stale cases whose first-contact deadline fired: their actions are dead letters."""
    with Engine.open(database_url, workflows=WORKFLOWS, clock=at(2020, 3, 2)) as eng:
        ids = [eng.open_case("brokerage", RECORD, **CM).id for _ in range(3)]
    with Engine.open(database_url, workflows=WORKFLOWS) as eng:
        assert eng.fire_due_timers() == 3
        eng.deliver_outbox()
        dead = [i for i in eng.outbox(status="dead", limit=50).items]
    assert len(dead) >= 3
    return {"url": database_url, "cases": ids, "dead": dead}


def outbox(capsys, url, *argv):
    return cli(capsys, "outbox", argv[0], "--database-url", url, *argv[1:])


def test_outbox_retry_takes_several_ids(dead_letters, capsys):
    ids = [str(i.id) for i in dead_letters["dead"][:2]]
    code, out, _ = outbox(capsys, dead_letters["url"], "retry", *ids, "--json")
    assert code == 0
    done = json.loads(out)
    assert sorted(str(i["id"]) for i in done["retried"]) == sorted(ids)
    assert done["failed"] == []


def test_outbox_retry_failed_retries_every_dead_letter_of_a_case(dead_letters, capsys):
    case = dead_letters["cases"][0]
    mine = {i.id for i in dead_letters["dead"] if i.case_id == case}
    code, out, _ = outbox(capsys, dead_letters["url"], "retry", "--failed", "--case", case)
    assert code == 0
    assert f"case {case}" in out
    code, out, _ = outbox(capsys, dead_letters["url"], "list", "--failed", "--json")
    left = {i["id"] for i in json.loads(out)["items"]}
    assert not (mine & left)
    assert len(left) == len(dead_letters["dead"]) - len(mine)


def test_outbox_retry_reports_each_failure_and_retries_the_rest(dead_letters, capsys):
    first = str(dead_letters["dead"][0].id)
    code, out, err = outbox(capsys, dead_letters["url"], "retry", first, "999999")
    assert code == 1
    assert "outbox item 999999 not found" in err
    assert "1 of 2 items are pending again" in out


def test_outbox_retry_needs_ids_or_failed(dead_letters, capsys):
    code, _, err = outbox(capsys, dead_letters["url"], "retry")
    assert code == 2
    assert "--failed" in err


def test_outbox_list_pages_with_a_cursor(dead_letters, capsys):
    code, out, _ = outbox(capsys, dead_letters["url"], "list", "--limit", "1", "--json")
    assert code == 0
    page = json.loads(out)
    assert len(page["items"]) == 1
    assert page["next_cursor"]
    code, out, _ = outbox(
        capsys, dead_letters["url"], "list", "--all", "--cursor", page["next_cursor"], "--json"
    )
    rest = json.loads(out)
    assert len(rest["items"]) == len(dead_letters["dead"]) - 1
    assert rest["next_cursor"] is None


# -- diagram of a case ----------------------------------------------------------------


def test_diagram_of_a_case_highlights_where_it_is_and_is_audited(three, capsys):
    code, out, err = cli(
        capsys,
        "diagram",
        "--case",
        three["moved"],
        "--database-url",
        three["url"],
        "--actor",
        "cli:ops-2",
    )
    assert code == 0, err
    assert "    class closing_review current" in out
    assert "    class referral_received visited" in out
    with Engine.open(three["url"], workflows=WORKFLOWS) as eng:
        store = eng._context.store
        from sqlalchemy import text

        with store.db.connect() as conn:  # type: ignore[attr-defined]
            rows = conn.execute(text("select actor, case_id, what from access_log")).all()
    assert ("cli:ops-2", three["moved"], "cli:diagram") in {tuple(r) for r in rows}


def test_diagram_highlight_of_an_unknown_state_is_a_usage_error(capsys):
    code, out, err = cli(capsys, "diagram", "brokerage", "--highlight", "nowhere")
    assert code == 2
    assert out == ""
    assert "no state 'nowhere'" in err


def test_diagram_needs_a_workflow_or_a_case(capsys):
    code, _, err = cli(capsys, "diagram")
    assert code == 2
    assert "--case" in err


def test_timers_list_pages_with_a_cursor(three, capsys):
    url = three["url"]
    code, out, err = cli(capsys, "timers", "list", "--database-url", url, "--limit", "1")
    assert code == 0
    note = re.search(r"showing 1 timers; more exist: add --cursor (\S+)", err)
    assert note is not None
    code, out, _ = cli(
        capsys,
        "timers",
        "list",
        "--database-url",
        url,
        "--all",
        "--cursor",
        note.group(1),
        "--json",
    )
    assert code == 0
    assert len(json.loads(out)["items"]) == 2
    code, _, err = cli(capsys, "timers", "list", "--database-url", url, "--cursor", "bm9wZQ")
    assert code == 2
    assert "--cursor" in err
