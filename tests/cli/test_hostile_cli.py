"""Findings 1 and 5 through the CLI: hostile values are a located error, never a
traceback, and no value of the case is printed."""

from __future__ import annotations

import pytest
from phi_sentinel import SENTINEL
from test_operator_cli import CM, RECORD, WORKFLOWS

from engine.cli.main import main
from engine.runtime.engine import Engine


@pytest.fixture
def case(database_url: str) -> tuple[str, str]:
    with Engine.open(database_url, workflows=WORKFLOWS) as eng:
        return database_url, eng.open_case("brokerage", RECORD, **CM).id


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1" * 30, '"\\ud800"'])
def test_send_with_a_hostile_payload_value_is_refused_without_a_traceback(
    case: tuple[str, str], capsys: pytest.CaptureFixture[str], value: str
) -> None:
    url, case_id = case
    payload = f'{{"contact_date": {value}, "note": "{SENTINEL}"}}'
    code, text = _run(
        capsys,
        *("cases", "send", "--database-url", url, case_id, "first_contact_made"),
        *("--payload", payload, "--role", "case_manager", "--actor", "cm-17"),
    )
    assert code != 0
    assert "Traceback" not in text
    assert SENTINEL not in text
    assert "P-0001" not in text


@pytest.mark.parametrize(
    "instant", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "2026-13-45"]
)
def test_cases_list_with_an_instant_out_of_range_is_refused_without_a_traceback(
    case: tuple[str, str], capsys: pytest.CaptureFixture[str], instant: str
) -> None:
    url, _ = case
    for flag in ("--opened-after", "--opened-before"):
        code, text = _run(capsys, "cases", "list", "--database-url", url, f"{flag}={instant}")
        assert code != 0
        assert "Traceback" not in text
