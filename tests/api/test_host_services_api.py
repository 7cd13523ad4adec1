"""Over real HTTP on loopback: the change feed (long-poll and SSE), business keys (search and
send by key) and the acting user (a JWT naming the end user), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from engine.api import Client, ClientRegistry, create_app, hash_token
from engine.api.acting_user import UserTokenVerifier
from engine.api.routes_changes import configure_change_feed
from engine.clock import ManualClock
from engine.runtime.engine import Engine

from .conftest import WORKFLOWS, LiveServer

ISSUER = "https://idp.example.test"
AUDIENCE = "casework"
TOKENS = {
    "ward": "ward-app-token-0123456789",
    "plain": "plain-app-token-0123456789",
    "reader": "reader-token-0123456789",
    "writer": "writer-token-0123456789",
}
CONTACT = {"contact_date": "2026-01-06"}
RECORD = {"patient_id": "P-0001", "program": "housing", "priority": "routine", "risk_level": "low"}


def keyed_workflows(folder: Path) -> Path:
    """The bundled brokerage workflow with business keys (patient_id; referral_id unique)."""
    text = (WORKFLOWS / "brokerage.yaml").read_text()
    assert "\nbusiness_keys: [patient_id]\n" in text
    text = text.replace(
        "\nbusiness_keys: [patient_id]\n",
        "\nbusiness_keys:\n  - patient_id\n  - {name: referral_id, unique: true}\n",
        1,
    )
    text = text.replace(
        "  properties:\n    patient_id:\n",
        "  properties:\n    referral_id:\n      type: string\n      maxLength: 40\n"
        "    patient_id:\n",
        1,
    )
    shutil.copytree(WORKFLOWS / "fragments", folder / "fragments")
    (folder / "brokerage.yaml").write_text(text)
    return folder


def clients() -> ClientRegistry:
    roles = ("case_manager", "intake_coordinator")
    return ClientRegistry(
        [
            Client(
                "ward", "svc:ward-app", roles, hash_token(TOKENS["ward"]),
                frozenset({"read", "write", "delegate"}),
            ),
            Client("plain", "svc:plain", roles, hash_token(TOKENS["plain"])),
            Client(
                "reader", "svc:dashboard", (), hash_token(TOKENS["reader"]), frozenset({"read"})
            ),
            Client(
                "writer", "svc:feed", roles, hash_token(TOKENS["writer"]), frozenset({"write"})
            ),
        ]
    )  # fmt: skip


@dataclass
class Host:
    engine: Engine
    http: httpx.Client
    url: str
    key: rsa.RSAPrivateKey

    def as_(self, who: str, user: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {TOKENS[who]}"}
        if user is not None:
            headers["Acting-User"] = user
        return headers

    def user_token(self, user: str, user_roles: list[str], **claims: object) -> str:
        body = {"iss": ISSUER, "aud": AUDIENCE, "sub": user, "roles": user_roles,
                "exp": int(time.time()) + 300, **claims}  # fmt: skip
        return jwt.encode(body, self.key, algorithm="RS256")

    def access_rows(self) -> list[tuple[str, str | None, str, str | None]]:
        from sqlalchemy import text

        with self.engine._context.store.db.connect() as conn:
            q = text("select actor, case_id, what, client from access_log order by id")
            return [(r[0], r[1], r[2], r[3]) for r in conn.execute(q)]

    def open(self, who: str = "plain", record: dict[str, object] | None = None, **h: str):
        return self.http.post(
            "/v1/cases",
            json={"workflow": "brokerage", "record": record or RECORD},
            headers={**self.as_(who), **h},
        )


@pytest.fixture
def host(database_url: str, tmp_path: Path) -> Iterator[Host]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    engine = Engine.open(
        database_url, workflows=keyed_workflows(tmp_path / "wf"), clock=ManualClock()
    )
    app = create_app(engine, clients=clients())
    app.state.acting_user = UserTokenVerifier(ISSUER, AUDIENCE, public.decode(), ("RS256",))
    configure_change_feed(app, max_wait_seconds=10, stream_seconds=1.0)
    try:
        with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=60) as http:
            yield Host(engine, http, server.url, key)
    finally:
        engine.close()


# -- change feed ----------------------------------------------------------------------------


def test_changes_lists_committed_entries_and_resumes_from_the_cursor(host: Host) -> None:
    a = host.open().json()["id"]
    r = host.http.get("/v1/changes", headers=host.as_("reader"))
    assert r.status_code == 200, r.text
    page = r.json()
    assert [(e["case_id"], e["seq"], e["event"], e["workflow"]) for e in page["items"]] == [
        (a, 1, "@open", "brokerage")
    ]
    assert page["next_cursor"] == page["items"][-1]["cursor"]
    b = host.open().json()["id"]
    again = host.http.get(
        "/v1/changes", params={"after": page["next_cursor"]}, headers=host.as_("reader")
    ).json()
    assert [e["case_id"] for e in again["items"]] == [b]
    assert ("svc:dashboard", a, "changes", None) in host.access_rows()
    assert ("svc:dashboard", b, "changes", None) in host.access_rows()


def test_changes_need_the_read_permission_and_a_valid_cursor(host: Host) -> None:
    assert host.http.get("/v1/changes").status_code == 401
    denied = host.http.get("/v1/changes", headers=host.as_("writer"))
    assert denied.status_code == 403
    assert denied.json()["type"].endswith("/permission-missing")
    bad = host.http.get("/v1/changes", params={"after": "x1"}, headers=host.as_("reader"))
    assert bad.status_code == 422


def test_changes_filter_by_workflow_and_start_from_latest(host: Host) -> None:
    host.open()
    latest = host.http.get("/v1/changes", params={"after": "latest"}, headers=host.as_("reader"))
    assert latest.json()["items"] == []
    cursor = latest.json()["next_cursor"]
    none = host.http.get(
        "/v1/changes", params={"workflow": "clinical"}, headers=host.as_("reader")
    ).json()
    assert none["items"] == []
    c = host.open().json()["id"]
    after = host.http.get(
        "/v1/changes", params={"after": cursor, "workflow": "brokerage"}, headers=host.as_("reader")
    ).json()
    assert [e["case_id"] for e in after["items"]] == [c]


def test_a_long_poll_returns_as_soon_as_an_entry_commits(host: Host) -> None:
    cursor = host.http.get(
        "/v1/changes", params={"after": "latest"}, headers=host.as_("reader")
    ).json()["next_cursor"]
    got: list[dict[str, object]] = []

    def poll() -> None:
        with httpx.Client(base_url=host.url, timeout=60) as other:
            got.append(
                other.get(
                    "/v1/changes",
                    params={"after": cursor, "wait": 10},
                    headers=host.as_("reader"),
                ).json()
            )

    t = threading.Thread(target=poll)
    t.start()
    case_id = host.open().json()["id"]
    t.join(60)
    assert [e["case_id"] for e in got[0]["items"]] == [case_id]  # type: ignore[index]


def test_a_long_poll_with_nothing_new_ends_with_an_empty_page_and_the_same_cursor(
    host: Host,
) -> None:
    r = host.http.get("/v1/changes", params={"after": "5", "wait": 0.3}, headers=host.as_("reader"))
    assert r.json() == {"items": [], "next_cursor": "5"}


def _events(text: str) -> list[dict[str, str]]:
    out = []
    for block in text.split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":")
        )
        if fields.get("event") == "change":
            out.append(fields)
    return out


def test_server_sent_events_resume_with_last_event_id_without_gaps_or_duplicates(
    host: Host,
) -> None:
    ids = [host.open().json()["id"] for _ in range(3)]
    r = host.http.get("/v1/changes/stream", headers=host.as_("reader"))  # ends after 1 s
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    events = _events(r.text)
    assert [json.loads(e["data"])["case_id"] for e in events] == ids
    assert [e["id"] for e in events] == [json.loads(e["data"])["cursor"] for e in events]
    # the client "disconnected" after the second event; it reconnects with Last-Event-ID
    more = host.open().json()["id"]
    resumed = host.http.get(
        "/v1/changes/stream", headers={**host.as_("reader"), "Last-Event-ID": events[1]["id"]}
    )
    assert [json.loads(e["data"])["case_id"] for e in _events(resumed.text)] == [ids[2], more]


# -- business keys --------------------------------------------------------------------------


def test_cases_are_searched_by_business_key(host: Host) -> None:
    a = host.open(record={**RECORD, "referral_id": "R-1"}).json()["id"]
    host.open(record={**RECORD, "patient_id": "P-0002"})
    r = host.http.get("/v1/cases", params={"key.patient_id": "P-0001"}, headers=host.as_("reader"))
    assert r.status_code == 200, r.text
    assert [c["id"] for c in r.json()["items"]] == [a]
    both = host.http.get(
        "/v1/cases",
        params={"key.patient_id": "P-0001", "key.referral_id": "R-2"},
        headers=host.as_("reader"),
    )
    assert both.json()["items"] == []
    twice = host.http.get(
        "/v1/cases?key.patient_id=P-0001&key.patient_id=P-0002", headers=host.as_("reader")
    )
    assert twice.status_code == 400
    assert twice.json()["type"].endswith("/invalid-key-filter")


def test_a_second_open_case_with_a_unique_key_is_a_409_naming_the_holder(host: Host) -> None:
    first = host.open(record={**RECORD, "referral_id": "R-9"}).json()["id"]
    r = host.open(record={**RECORD, "patient_id": "P-0002", "referral_id": "R-9"})
    assert r.status_code == 409
    body = r.json()
    assert body["type"].endswith("/business-key-conflict")
    assert body["key"] == "referral_id"
    assert body["holder_case_id"] == first
    assert "R-9" not in r.text


def _by_key(keys: dict[str, str]) -> dict[str, object]:
    return {
        "workflow": "brokerage",
        "keys": keys,
        "event": "first_contact_made",
        "payload": CONTACT,
    }


def test_an_event_sent_by_key_reaches_its_case(host: Host) -> None:
    case = host.open(record={**RECORD, "referral_id": "R-77"}).json()["id"]
    r = host.http.post(
        "/v1/cases/by-key/events",
        json=_by_key({"referral_id": "R-77"}),
        headers=host.as_("plain"),
    )
    assert r.status_code == 200, r.text
    assert r.json()["id"] == case
    assert r.json()["state"] == "assessing"
    assert r.headers["etag"] == '"2"'
    missing = host.http.post(
        "/v1/cases/by-key/events",
        json=_by_key({"referral_id": "R-0"}),
        headers=host.as_("plain"),
    )
    assert missing.status_code == 404
    assert missing.json()["type"].endswith("/business-key-not-found")
    host.open(record={**RECORD, "referral_id": "R-78"})
    ambiguous = host.http.post(
        "/v1/cases/by-key/events",
        json=_by_key({"patient_id": "P-0001"}),
        headers=host.as_("plain"),
    )
    assert ambiguous.status_code == 409
    assert ambiguous.json()["type"].endswith("/business-key-ambiguous")


# -- acting user ----------------------------------------------------------------------------


def test_an_event_sent_for_an_end_user_records_user_and_client(host: Host) -> None:
    token = host.user_token("nurse:jane", ["case_manager"])
    opened = host.open(who="ward", **{"Acting-User": token})
    assert opened.status_code == 201, opened.text
    case = opened.json()["id"]
    sent = host.http.post(
        f"/v1/cases/{case}/events",
        json={"event": "first_contact_made", "payload": CONTACT},
        headers=host.as_("ward", token),
    )
    assert sent.status_code == 200, sent.text
    history = host.http.get(f"/v1/cases/{case}/history", headers=host.as_("ward", token)).json()
    assert [(e["actor"], e["client"], e["roles"]) for e in history["entries"]] == [
        ("nurse:jane", "svc:ward-app", ["case_manager"]),
        ("nurse:jane", "svc:ward-app", ["case_manager"]),
    ]
    assert ("nurse:jane", case, "history", "svc:ward-app") in host.access_rows()
    assert host.engine.verify_audit(case).ok


def test_the_end_users_roles_decide_what_it_may_do(host: Host) -> None:
    case = host.open().json()["id"]
    token = host.user_token("clerk:bob", [])  # a user with no roles
    r = host.http.post(
        f"/v1/cases/{case}/events",
        json={"event": "first_contact_made", "payload": CONTACT},
        headers=host.as_("ward", token),
    )
    assert r.status_code == 403  # role_missing
    assert r.json()["reason"] == "role_missing"


def test_a_client_can_delegate_only_roles_it_is_granted(host: Host) -> None:
    token = host.user_token("sup:ann", ["supervisor"])
    r = host.open(who="ward", **{"Acting-User": token})
    assert r.status_code == 403
    assert r.json()["type"].endswith("/role-not-delegable")
    assert r.json()["roles"] == ["supervisor"]


def test_a_client_without_delegate_cannot_name_a_user(host: Host) -> None:
    r = host.open(who="plain", **{"Acting-User": host.user_token("x", ["case_manager"])})
    assert r.status_code == 403
    assert r.json()["type"].endswith("/delegation-not-allowed")


@pytest.mark.parametrize(
    "claims",
    [
        {"iss": "https://evil.example"},
        {"aud": "someone-else"},
        {"exp": 1_000_000},
        {"sub": ""},
        {"roles": "case_manager"},
    ],
    ids=["issuer", "audience", "expired", "empty-sub", "roles-not-a-list"],
)
def test_a_user_token_that_does_not_verify_is_a_401(host: Host, claims: dict[str, object]) -> None:
    token = host.user_token("nurse:jane", ["case_manager"], **claims)
    r = host.open(who="ward", **{"Acting-User": token})
    assert r.status_code == 401
    assert r.json()["type"].endswith("/acting-user-invalid")


def test_a_token_signed_by_another_key_or_unsigned_is_a_401(host: Host) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "roles": [], "exp": int(time.time()) + 60}
    for token in (
        jwt.encode(body, other, algorithm="RS256"),
        jwt.encode(body, None, algorithm="none"),
    ):
        r = host.open(who="ward", **{"Acting-User": token})
        assert r.status_code == 401


def test_hs256_verifier_from_a_configuration_table() -> None:
    secret = "s" * 40
    v = UserTokenVerifier.from_mapping(
        {"issuer": ISSUER, "audience": AUDIENCE, "algorithms": ["HS256"], "secret_env": "K"},
        env={"K": secret},
    )
    token = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "u1", "roles": ["a"], "exp": int(time.time()) + 60},
        secret,
        algorithm="HS256",
    )
    user = v.verify(token)
    assert (user.id, user.roles) == ("u1", ("a",))
