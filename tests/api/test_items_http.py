"""Work items over HTTP: add, send, read; problem+json errors; deny by default."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from engine.api import Client, ClientRegistry, create_app, hash_token
from engine.clock import ManualClock

from .conftest import TOKENS, LiveServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from items_support import open_engine

PROVIDER_TOKEN = "provider-token-0123456789"
CM = {"Authorization": f"Bearer {TOKENS['cm']}"}
PROVIDER = {"Authorization": f"Bearer {PROVIDER_TOKEN}"}
WRITER = {"Authorization": f"Bearer {TOKENS['writer']}"}
READER = {"Authorization": f"Bearer {TOKENS['reader']}"}
HOUSING = {"provider": "Housing First", "service": "housing"}


def _clients() -> ClientRegistry:
    return ClientRegistry(
        [
            Client("cm", "svc:ward-app", ("case_manager",), hash_token(TOKENS["cm"])),
            Client("provider", "svc:provider-portal", ("provider",), hash_token(PROVIDER_TOKEN)),
            Client(
                "writer",
                "svc:referral-feed",
                ("case_manager",),
                hash_token(TOKENS["writer"]),
                frozenset({"write"}),
            ),
            Client(
                "reader", "svc:dashboard", (), hash_token(TOKENS["reader"]), frozenset({"read"})
            ),
        ]
    )


@pytest.fixture
def http(database_url: str) -> Iterator[httpx.Client]:
    engine = open_engine(database_url, ManualClock())
    app = create_app(engine, clients=_clients(), max_body_bytes=64 * 1024)
    try:
        with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=60) as client:
            yield client
    finally:
        engine.close()


def _open(http: httpx.Client) -> str:
    r = http.post(
        "/v1/cases", json={"workflow": "itemcase", "record": {"patient_id": "P-0001"}}, headers=CM
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _add(http: httpx.Client, cid: str, **extra: object) -> httpx.Response:
    headers = {**CM, **extra.pop("headers", {})}  # type: ignore[dict-item]
    body = {"type": "referral", "payload": HOUSING, **extra}
    return http.post(f"/v1/cases/{cid}/items", json=body, headers=headers)


def test_add_send_and_read_items(http: httpx.Client) -> None:
    cid = _open(http)
    r = _add(http, cid, item_id="ref-housing")
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == f"/v1/cases/{cid}/items/ref-housing"
    assert r.headers["ETag"] == '"3"'
    body = r.json()
    assert [(i["id"], i["state"], i["data"]["provider"]) for i in body["items"]] == [
        ("ref-housing", "sent", "Housing First")
    ]
    r = http.post(
        f"/v1/cases/{cid}/items/ref-housing/events",
        json={"event": "accepted", "payload": {}},
        headers={**PROVIDER, "If-Match": '"3"'},
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "monitoring"
    assert r.json()["items"][0]["closed"] is True
    listed = http.get(f"/v1/cases/{cid}/items", params={"state": "accepted"}, headers=CM).json()
    assert [i["id"] for i in listed["items"]] == ["ref-housing"]
    one = http.get(f"/v1/cases/{cid}/items/ref-housing", headers=CM)
    assert one.status_code == 200
    assert one.json()["state"] == "accepted"
    case = http.get(f"/v1/cases/{cid}", headers=CM).json()
    assert case["items"][0]["id"] == "ref-housing"
    history = http.get(f"/v1/cases/{cid}/history", headers=CM).json()["entries"]
    assert [(e["event"], e["item_id"]) for e in history] == [
        ("@open", None),
        ("@create", "ref-housing"),
        ("referral_added", None),
        ("accepted", "ref-housing"),
        ("all_settled", None),
    ]


def test_rejections_are_problems_naming_item_state_event_and_allowed(http: httpx.Client) -> None:
    cid = _open(http)
    _add(http, cid)
    http.post(
        f"/v1/cases/{cid}/items/referral-1/events", json={"event": "waitlist"}, headers=PROVIDER
    )
    r = http.post(
        f"/v1/cases/{cid}/items/referral-1/events",
        json={"event": "declined", "payload": {"reason": "full"}},
        headers=PROVIDER,
    )
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    p = r.json()
    assert (p["error"], p["item_id"], p["engine_state"] if "engine_state" in p else p["state"]) == (
        "event-rejected",
        "referral-1",
        "waitlisted",
    )
    assert p["event"] == "declined"
    assert p["allowed_events"] == ["accepted"]
    missing = http.post(
        f"/v1/cases/{cid}/items/nope/events", json={"event": "accepted"}, headers=PROVIDER
    )
    assert missing.status_code == 404
    assert missing.json()["error"] == "item-not-found"
    assert missing.json()["item_id"] == "nope"
    bad = _add(http, cid, payload={"provider": "X", "service": "spa"})
    assert bad.status_code == 422
    assert bad.json()["json_path"] == "$.service"
    taken = _add(http, cid, item_id="referral-1")
    assert taken.status_code == 409
    assert taken.json()["error"] == "item-id-taken"
    role = http.post(
        f"/v1/cases/{cid}/items/referral-1/events", json={"event": "accepted"}, headers=CM
    )
    assert role.status_code == 403
    assert role.json()["error"] == "role-missing"
    unknown = _add(http, cid, type="goal")
    assert unknown.status_code == 409
    assert unknown.json()["reason"] == "unknown_item_type"
    stale = _add(http, cid, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    nocase = http.get("/v1/cases/00000000-0000-0000-0000-000000000000/items", headers=CM)
    assert nocase.status_code == 404


def test_idempotency_key_replays_an_item_write(http: httpx.Client) -> None:
    cid = _open(http)
    first = _add(http, cid, headers={"Idempotency-Key": "add-1"})
    again = _add(http, cid, headers={"Idempotency-Key": "add-1"})
    assert again.json()["version"] == first.json()["version"]
    assert len(again.json()["items"]) == 1
    other = _add(
        http,
        cid,
        payload={"provider": "F", "service": "food"},
        headers={"Idempotency-Key": "add-1"},
    )
    assert other.status_code == 422
    assert other.json()["error"] == "idempotency-key-reused"


def test_deny_by_default(http: httpx.Client) -> None:
    cid = _open(http)
    assert http.post(f"/v1/cases/{cid}/items", json={"type": "referral"}).status_code == 401
    assert _add(http, cid, headers=READER).status_code == 403  # read only
    assert http.get(f"/v1/cases/{cid}/items", headers=WRITER).status_code == 403  # write only
    written = _add(http, cid, headers=WRITER)
    assert written.status_code == 201
    assert "data" not in written.json()["items"][0]  # a write-only client sees no item data
