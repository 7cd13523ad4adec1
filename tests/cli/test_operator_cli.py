"""``casework cases|timers|outbox``: the operator's view of the same database."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from phi_sentinel import SENTINEL

from engine.cli.main import main
from engine.clock import ManualClock
from engine.runtime.engine import Engine

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "workflows"
RECORD = {"patient_id": "P-0001", "program": SENTINEL, "priority": "routine", "risk_level": "low"}
CM = {"actor": "cm-17", "roles": ["case_manager"]}


@pytest.fixture
def seeded(database_url):
    """A stale case (opened in 2020: its first-contact deadline long passed) and a fresh one."""
    past = ManualClock(datetime(2020, 3, 2, 9, 0, tzinfo=UTC))
    with Engine.open(database_url, workflows=WORKFLOWS, clock=past) as eng:
        stale = eng.open_case("brokerage", RECORD, **CM)
    with Engine.open(database_url, workflows=WORKFLOWS) as eng:
        fresh = eng.open_case("brokerage", {**RECORD, "patient_id": "P-0002"}, **CM)
    return {"url": database_url, "stale": stale.id, "fresh": fresh.id}


def cli(capsys, url, *argv):
    code = main([*argv[:2], "--database-url", url, *argv[2:]])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cases_list_prints_a_table_of_cases(seeded, capsys):
    code, out, _ = cli(capsys, seeded["url"], "cases", "list")
    assert code == 0
    assert out.splitlines()[0].split()[:4] == ["ID", "WORKFLOW", "STATE", "PHASE"]
    assert seeded["stale"] in out
    assert seeded["fresh"] in out


def test_cases_list_json_has_no_records(seeded, capsys):
    code, out, _ = cli(capsys, seeded["url"], "cases", "list", "--json")
    assert code == 0
    rows = json.loads(out)["items"]
    assert {r["id"] for r in rows} == {seeded["stale"], seeded["fresh"]}
    assert all("record" not in r for r in rows)
    assert "P-0001" not in out


def test_cases_list_overdue_shows_only_cases_past_a_deadline(seeded, capsys):
    code, out, _ = cli(capsys, seeded["url"], "cases", "list", "--overdue", "--json")
    assert code == 0
    assert [r["id"] for r in json.loads(out)["items"]] == [seeded["stale"]]


def test_cases_list_marks_overdue_cases(seeded, capsys):
    code, out, _ = cli(capsys, seeded["url"], "cases", "list", "--json")
    assert code == 0
    flags = {r["id"]: r["overdue"] for r in json.loads(out)["items"]}
    assert flags == {seeded["stale"]: True, seeded["fresh"]: False}
    code, out, _ = cli(capsys, seeded["url"], "cases", "list")
    (stale_line,) = [line for line in out.splitlines() if seeded["stale"] in line]
    assert "OVERDUE" in stale_line


def test_cases_list_filters_by_state_and_open(seeded, capsys):
    code, out, _ = cli(
        capsys, seeded["url"], "cases", "list", "--state", "assessing", "--open", "--json"
    )
    assert code == 0
    assert json.loads(out)["items"] == []


def test_cases_show_explains_why_a_case_is_stuck(seeded, capsys):
    code, out, _ = cli(capsys, seeded["url"], "cases", "show", seeded["stale"])
    assert code == 0
    assert "Why is it here?" in out
    assert "OVERDUE: timer 'first_contact_deadline'" in out
    assert "last event: '@open' by cm-17" in out
    assert "first_contact_made" in out  # allowed events with the roles that may send them
    assert "wrong_state" in out  # and the reason for the others


def test_cases_show_json_and_the_read_is_audited(seeded, capsys):
    code, out, _ = cli(
        capsys, seeded["url"], "cases", "show", seeded["stale"], "--json", "--actor", "cli:ops-1"
    )
    assert code == 0
    shown = json.loads(out)
    assert shown["state"] == "referral_received"
    assert any("OVERDUE" in line for line in shown["diagnosis"])
    options = {o["event"]: o for o in shown["allowed_events"]}
    assert options["first_contact_made"]["allowed"] is True
    db = sa.create_engine(seeded["url"].replace("postgresql://", "postgresql+psycopg://"))
    with db.connect() as conn:
        rows = conn.execute(
            sa.text("select actor from access_log where case_id = :c"), {"c": seeded["stale"]}
        ).all()
    db.dispose()
    assert ("cli:ops-1",) in {tuple(r) for r in rows}


def test_cases_history_lists_entries(seeded, capsys):
    code, out, _ = cli(capsys, seeded["url"], "cases", "history", seeded["fresh"], "--json")
    assert code == 0
    assert [e["event"] for e in json.loads(out)] == ["@open"]


def test_cases_send_applies_an_attributed_event(seeded, capsys):
    code, out, _ = cli(
        capsys,
        seeded["url"],
        "cases",
        "send",
        seeded["fresh"],
        "first_contact_made",
        "--payload",
        '{"contact_date": "2026-01-06"}',
        "--role",
        "case_manager",
        "--actor",
        "cli:ops-1",
    )
    assert code == 0, out
    assert "assessing" in out
    code, out, _ = cli(capsys, seeded["url"], "cases", "history", seeded["fresh"], "--json")
    assert json.loads(out)[-1]["actor"] == "cli:ops-1"


def test_cases_send_without_the_role_fails_with_exit_1(seeded, capsys):
    code, out, err = cli(
        capsys,
        seeded["url"],
        "cases",
        "send",
        seeded["fresh"],
        "reassign_case_manager",
        "--role",
        "case_manager",
        "--json",
    )
    assert code == 1
    assert "role_missing" in err
    assert json.loads(out)["error"] == "event-rejected"


def test_cases_send_with_bad_payload_json_is_a_usage_error(seeded, capsys):
    code, _, err = cli(
        capsys,
        seeded["url"],
        "cases",
        "send",
        seeded["fresh"],
        "first_contact_made",
        "--payload",
        "{not json",
    )
    assert code == 2
    assert "--payload" in err


def test_unknown_case_fails_with_exit_1(seeded, capsys):
    code, _, err = cli(capsys, seeded["url"], "cases", "show", "no-such-case")
    assert code == 1
    assert "no-such-case" in err


def test_missing_subcommand_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["cases"])
    assert exc.value.code == 2


def test_missing_sqlite_database_is_reported_not_created(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'nope.db'}"
    code, _, err = cli(capsys, url, "cases", "list")
    assert code == 1
    assert "no database" in err
    assert not (tmp_path / "nope.db").exists()


def test_timers_list_due_within(seeded, capsys):
    code, out, _ = cli(capsys, seeded["url"], "timers", "list", "--due-within", "7d", "--json")
    assert code == 0
    timers = json.loads(out)["items"]
    assert [t["case_id"] for t in timers] == [seeded["stale"]]  # the fresh one is due in ~2 weeks
    code, out, _ = cli(capsys, seeded["url"], "timers", "list", "--due-within", "P30D", "--json")
    assert {t["case_id"] for t in json.loads(out)["items"]} == {seeded["stale"], seeded["fresh"]}
    code, out, _ = cli(capsys, seeded["url"], "timers", "list")
    assert "OVERDUE" in out


def test_timers_list_rejects_a_bad_span(seeded, capsys):
    code, _, err = cli(capsys, seeded["url"], "timers", "list", "--due-within", "soon")
    assert code == 2
    assert "not a duration" in err


def test_outbox_list_failed_and_retry(seeded, capsys):
    # fire the stale case's deadline: its action has no implementation -> dead letter
    with Engine.open(seeded["url"], workflows=WORKFLOWS) as eng:
        assert eng.fire_due_timers() == 1
        eng.deliver_outbox()
    code, out, _ = cli(capsys, seeded["url"], "outbox", "list", "--failed", "--json")
    assert code == 0
    (item,) = json.loads(out)["items"]
    assert item["status"] == "dead"
    assert item["case_id"] == seeded["stale"]
    code, out, _ = cli(capsys, seeded["url"], "outbox", "retry", str(item["id"]))
    assert code == 0
    assert "pending again" in out
    code, out, _ = cli(capsys, seeded["url"], "outbox", "list", "--json")
    assert [i["status"] for i in json.loads(out)["items"]] == ["pending"]
    # the case itself: the deadline fired while it stayed in its state
    code, out, _ = cli(capsys, seeded["url"], "cases", "show", seeded["stale"])
    assert "deadline passed: timer 'first_contact_deadline' fired" in out


def test_outbox_retry_unknown_item_fails(seeded, capsys):
    code, _, err = cli(capsys, seeded["url"], "outbox", "retry", "999999")
    assert code == 1
    assert "999999" in err
