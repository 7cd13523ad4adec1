"""``casework items list|add|send`` and ``cases list --item-*`` on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.clock import ManualClock

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from item_reads_support import CM, HOUSING, linking_case, open_demo


@pytest.fixture
def demo(database_url: str) -> dict[str, str]:
    clock = ManualClock()
    with open_demo(database_url, clock) as eng:
        cid = linking_case(eng)
        eng.add_item(cid, "referral", HOUSING, **CM)
        other = linking_case(eng, "P-0002")
    return {"url": database_url, "case": cid, "other": other}


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_items_add_send_and_list(demo, capsys) -> None:
    url, cid = demo["url"], demo["case"]
    payload = json.dumps({"provider": "Food Bank", "service": "food_support"})
    code, out, err = cli(
        capsys, "items", "add", cid, "referral", "--payload", payload,
        "--role", "case_manager", "--actor", "cm-17", "--database-url", url,
    )  # fmt: skip
    assert code == 0, err
    assert "referral-2 sent" in out
    code, out, err = cli(
        capsys, "items", "send", cid, "referral-2", "waitlisted",
        "--role", "provider", "--actor", "prov-3", "--database-url", url,
    )  # fmt: skip
    assert code == 0, err
    assert "referral-2 waitlisted" in out

    code, out, err = cli(capsys, "items", "list", "--database-url", url, "--json", "--limit", "1")
    assert code == 0, err
    page = json.loads(out)
    assert page["total"] == 2
    assert [(i["case_id"], i["id"]) for i in page["items"]] == [(cid, "referral-1")]
    assert page["next_cursor"]
    code, out, err = cli(
        capsys, "items", "list", "--database-url", url, "--json", "--cursor", page["next_cursor"]
    )
    assert [i["state"] for i in json.loads(out)["items"]] == ["waitlisted"]

    code, out, err = cli(capsys, "items", "list", "--database-url", url, "--state", "sent")
    assert code == 0, err
    assert cid in out  # the whole case id, never cut
    assert "referral-1" in out
    assert "referral-2" not in out


def test_items_send_refused_names_item_state_and_allowed(demo, capsys) -> None:
    url, cid = demo["url"], demo["case"]
    code, _, err = cli(
        capsys, "items", "send", cid, "referral-1", "attended",
        "--role", "case_manager", "--database-url", url,
    )  # fmt: skip
    assert code == 1
    assert "referral-1" in err
    code, _, err = cli(capsys, "items", "add", cid, "referral", "--payload", "[1]",
                       "--database-url", url)  # fmt: skip
    assert code == 2
    assert "JSON object" in err


def test_cases_list_by_item(demo, capsys) -> None:
    url, cid, other = demo["url"], demo["case"], demo["other"]
    code, out, err = cli(
        capsys, "cases", "list", "--database-url", url, "--item-type", "referral", "--json"
    )
    assert code == 0, err
    assert [c["id"] for c in json.loads(out)["items"]] == [cid]
    code, out, err = cli(capsys, "cases", "list", "--database-url", url, "--item-overdue", "--json")
    # the CLI reads the system clock: the referral's 14-day follow-up (opened at the
    # manual clock's start, long ago) is past due, and the other case holds no item
    assert [c["id"] for c in json.loads(out)["items"]] == [cid]
    assert other != cid
