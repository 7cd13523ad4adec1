"""Work items in the operator's views: ``cases show`` and ``cases history`` (the item
types read back from the stored definition)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.clock import ManualClock

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from items_support import CM, PATIENT, PROVIDER, open_engine


@pytest.fixture
def case_with_items(database_url: str) -> dict[str, str]:
    with open_engine(database_url, ManualClock()) as eng:
        cid = eng.open_case("itemcase", PATIENT, **CM).id
        eng.add_item(cid, "referral", {"provider": "HF", "service": "housing"}, **CM)
        eng.add_item(cid, "referral", {"provider": "FB", "service": "food"}, **CM)
        eng.send_item(cid, "referral-1", "waitlist", **PROVIDER)
    return {"url": database_url, "case": cid}


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_cases_show_lists_the_work_items(case_with_items, capsys) -> None:
    url, cid = case_with_items["url"], case_with_items["case"]
    code, out = cli(capsys, "cases", "show", cid, "--database-url", url)
    assert code == 0
    assert "Work items" in out
    assert "referral-1" in out
    assert "waitlisted" in out
    assert "referral-2" in out
    code, out = cli(capsys, "cases", "show", cid, "--database-url", url, "--json")
    assert code == 0
    items = json.loads(out)["items"]
    assert [(i["id"], i["state"]) for i in items] == [
        ("referral-1", "waitlisted"),
        ("referral-2", "sent"),
    ]


def test_cases_history_names_the_item_of_each_item_row(case_with_items, capsys) -> None:
    url, cid = case_with_items["url"], case_with_items["case"]
    code, out = cli(capsys, "cases", "history", cid, "--database-url", url)
    assert code == 0
    assert "@create [item referral-1: sent]" in out
    assert "waitlist [item referral-1: sent->waitlisted]" in out
    code, out = cli(capsys, "cases", "history", cid, "--database-url", url, "--json")
    rows = json.loads(out)
    entries = rows["items"] if isinstance(rows, dict) else rows
    assert [e["item_id"] for e in entries][-1] == "referral-1"
