"""GET /v1/items and the case search by item over HTTP: read permission, audited, paged."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from engine.api import create_app
from engine.clock import ManualClock
from engine.runtime.engine import Engine

from .conftest import TOKENS, LiveServer, registry

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from item_reads_support import CM, FOOD, HOUSING, PROVIDER, linking_case, open_demo

READER = {"Authorization": f"Bearer {TOKENS['reader']}"}
WRITER = {"Authorization": f"Bearer {TOKENS['writer']}"}


@pytest.fixture
def served(database_url: str) -> Iterator[tuple[Engine, ManualClock, httpx.Client]]:
    clock = ManualClock()
    engine = open_demo(database_url, clock)
    app = create_app(engine, clients=registry(), max_body_bytes=64 * 1024)
    try:
        with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=60) as http:
            yield engine, clock, http
    finally:
        engine.close()


def _access(engine: Engine) -> list[tuple[str, str | None, str]]:
    with engine._context.store.db.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(text("select actor, case_id, what from access_log order by seq"))
        return [(r[0], r[1], r[2]) for r in rows]


def test_items_listing_needs_read_and_audits_each_case(served) -> None:
    engine, clock, http = served
    a, b = linking_case(engine, "P-0001"), linking_case(engine, "P-0002")
    engine.add_item(a, "referral", HOUSING, **CM)
    clock.advance(timedelta(minutes=1))
    engine.add_item(b, "referral", FOOD, **CM)
    clock.advance(timedelta(minutes=1))
    engine.add_item(a, "referral", FOOD, **CM)
    engine.send_item(b, "referral-1", "accepted", **PROVIDER)
    before = _access(engine)

    assert http.get("/v1/items").status_code == 401
    assert http.get("/v1/items", headers=WRITER).status_code == 403
    assert all(what != "items" for _, _, what in _access(engine)[len(before) :])  # no read
    mark = len(_access(engine))

    r = http.get("/v1/items", params={"limit": 2, "total": "true"}, headers=READER)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 3
    assert [(i["case_id"], i["id"]) for i in body["items"]] == [
        (a, "referral-1"),
        (b, "referral-1"),
    ]
    assert body["items"][0]["data"]["provider"] == "Housing First"
    assert body["items"][0]["workflow"] == "items_demo"
    assert body["items"][0]["overdue"] is False
    assert {(c, w) for _, c, w in _access(engine)[mark:]} == {(a, "items"), (b, "items")}
    r = http.get("/v1/items", params={"cursor": body["next_cursor"]}, headers=READER)
    assert [(i["case_id"], i["id"]) for i in r.json()["items"]] == [(a, "referral-2")]
    assert r.json()["next_cursor"] is None

    r = http.get("/v1/items", params={"type": "referral", "open": "false"}, headers=READER)
    assert [(i["case_id"], i["state"]) for i in r.json()["items"]] == [(b, "accepted")]
    r = http.get("/v1/items", params={"cursor": "forged"}, headers=READER)
    assert r.status_code == 400
    assert r.json()["type"].endswith("invalid-cursor")


def test_case_search_filters_by_item(served) -> None:
    engine, clock, http = served
    late, fresh = linking_case(engine, "P-0001"), linking_case(engine, "P-0002")
    engine.add_item(late, "referral", HOUSING, **CM)
    clock.advance(timedelta(days=10))
    engine.add_item(fresh, "referral", FOOD, **CM)
    engine.send_item(fresh, "referral-1", "waitlisted", **PROVIDER)
    clock.advance(timedelta(days=5))

    def ids(**params: str) -> list[str]:
        r = http.get("/v1/cases", params=params, headers=READER)
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()["items"]]

    assert ids(item_overdue="true") == [late]
    assert ids(item_type="referral", item_state="waitlisted") == [fresh]
    assert ids(item_type="appointment") == []
    r = http.get("/v1/items", params={"overdue": "true"}, headers=READER)
    assert [(i["case_id"], i["overdue"]) for i in r.json()["items"]] == [(late, True)]


def test_metrics_count_items_by_type_and_state_and_the_overdue_ones(served) -> None:
    engine, clock, http = served
    cid = linking_case(engine)
    engine.add_item(cid, "referral", HOUSING, **CM)
    engine.add_item(cid, "referral", FOOD, **CM)
    engine.send_item(cid, "referral-2", "declined", **PROVIDER)
    clock.advance(timedelta(days=15))  # referral-1's 14-day follow-up is past due
    admin = {"Authorization": f"Bearer {TOKENS['admin']}"}
    text = http.get("/metrics", headers=admin).text
    sent = 'casework_items{state="sent",type="referral",workflow="items_demo"} 1.0'
    declined = 'casework_items{state="declined",type="referral",workflow="items_demo"} 1.0'
    assert sent in text
    assert declined in text
    assert "casework_items_overdue 1.0" in text
    stats = engine.stats()
    assert stats.items_by_state[("items_demo", "referral", "sent")] == 1
    assert stats.overdue_items == 1
