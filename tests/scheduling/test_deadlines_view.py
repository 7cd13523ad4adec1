"""`simulate --deadlines`: every timer and when it would fire for a fresh case."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from engine.cli.main import main
from engine.definitions import load_workflow
from engine.timing.deadlines import deadlines

from ._engine import DEADLINES

START = datetime(2026, 3, 6, 14, 0, tzinfo=UTC)  # Friday 09:00 EST


def test_deadlines_give_local_due_instants_and_day_numbers() -> None:
    rows = {r.timer: r for r in deadlines(load_workflow(DEADLINES), start=START)}
    assert rows["one_day"].local is not None
    assert (rows["one_day"].day, rows["one_day"].local.weekday) == (1, "Sat")
    # 09:00 local on both sides of the 8 March change.
    assert rows["one_week"].local is not None
    assert (rows["one_week"].local.time, rows["one_week"].local.zone) == ("09:00", "EDT")
    assert rows["two_business_days"].day == 4  # Mon 9, Tue 10 March
    assert rows["two_business_days"].spec == "after 2 business day(s)"


def test_at_timers_without_case_data_say_what_they_wait_for() -> None:
    rows = {r.timer: r for r in deadlines(load_workflow(DEADLINES), start=START)}
    assert rows["after_discharge"].due_at is None
    assert "not armed" in rows["after_discharge"].note
    with_record = {
        r.timer: r
        for r in deadlines(
            load_workflow(DEADLINES), start=START, case={"discharge_date": "2026-03-10"}
        )
    }
    assert with_record["after_discharge"].due_at == datetime(2026, 3, 17, 4, 0, tzinfo=UTC)


def test_cli_deadlines_with_a_record_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "simulate",
            str(DEADLINES),
            "--deadlines",
            "--start",
            "2026-03-06T09:00",
            "--record",
            '{"discharge_date": "2026-03-10"}',
            "--json",
        ]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["start"] == START.isoformat()
    by_name = {r["timer"]: r for r in data["deadlines"]}
    assert by_name["after_discharge"]["local"]["date"] == "2026-03-17"


def test_cli_deadlines_text_lists_recurrences(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "brokerage", "--deadlines"]) == 0
    out = capsys.readouterr().out
    assert "quarterly_contact then:" in out
    assert "first_contact_deadline (pausable)" in out


def test_cli_deadlines_rejects_a_record_that_is_not_an_object() -> None:
    assert main(["simulate", "brokerage", "--deadlines", "--record", "[1]"]) == 2
    assert main(["simulate", "brokerage", "--deadlines", "--record", "{oops"]) == 2
