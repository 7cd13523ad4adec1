"""The console over HTTP without a browser: deny by default, the cookie, CSRF, the
version check, audited reads, no patient data in URLs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from engine.api import Client, ClientRegistry, create_app, hash_token
from engine.api.clients import PERMISSIONS
from engine.clock import ManualClock
from engine.runtime.engine import Engine
from tests.api.conftest import LiveServer
from tests.console.seed import CM, RECORD, WORKFLOWS

ADMIN = "console-admin-token-0123456789"
READER = "console-reader-token-0123456789"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@dataclass
class Console:
    engine: Engine
    clock: ManualClock
    http: httpx.Client

    def login(self, token: str = ADMIN) -> None:
        page = self.http.get("/console/login")
        csrf = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        r = self.http.post(
            "/console/login",
            data={"login_csrf": csrf.group(1), "token": token},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text

    def csrf(self, path: str) -> str:
        found = re.search(r'name="csrf" value="([^"]+)"', self.http.get(path).text)
        assert found is not None
        return found.group(1)

    def access(self) -> list[tuple[str, str | None, str]]:
        from sqlalchemy import text

        store: Any = self.engine._context.store
        with store.db.connect() as conn:
            rows = conn.execute(text("select actor, case_id, what from access_log order by id"))
            return [(r[0], r[1], r[2]) for r in rows]


@pytest.fixture
def console(database_url: str) -> Iterator[Console]:
    clock = ManualClock(NOW - timedelta(days=30))
    engine = Engine.open(database_url, workflows=WORKFLOWS, clock=clock)
    clients = ClientRegistry(
        [
            Client("admin", "console:admin", ("*",), hash_token(ADMIN), PERMISSIONS),
            Client("reader", "console:reader", (), hash_token(READER), frozenset({"read"})),
        ]
    )
    try:
        app = create_app(engine, clients=clients)
        with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=60) as http:
            yield Console(engine, clock, http)
    finally:
        engine.close()


def _open(console: Console, patient: str = "P-0001") -> str:
    case = console.engine.open_case(
        "brokerage", {**RECORD, "patient_id": patient}, actor="t", roles=CM
    )
    return case.id


@pytest.mark.parametrize(
    "path", ["/console", "/console/cases", "/console/queues", "/console/outbox",
             "/console/definitions", "/console/definitions/brokerage/1",
             "/console/cases/00000000-0000-0000-0000-000000000000"],
)  # fmt: skip
def test_every_console_page_sends_an_anonymous_visitor_to_log_in(console, path):
    r = console.http.get(path)
    assert r.status_code == 303
    assert r.headers["location"] == "/console/login"


def test_a_post_without_a_session_changes_nothing(console):
    case_id = _open(console)
    r = console.http.post(
        f"/console/cases/{case_id}/events",
        data={"csrf": "x", "version": "1", "event": "found_ineligible"},
    )
    assert r.status_code == 303
    assert console.engine.get(case_id).version == 1


def test_login_sets_an_httponly_samesite_strict_cookie_scoped_to_the_console(console):
    console.login()
    cookie = next(
        h for h in console.http.get("/console/login").headers.get_list("set-cookie")
    )  # the login form's cookie has the same attributes as the session's
    for attribute in ("HttpOnly", "Path=/console", "SameSite=strict"):
        assert attribute in cookie
    assert "Secure" not in cookie  # plain HTTP: a Secure cookie would never come back
    assert console.http.get("/console/cases").status_code == 200


def test_the_cookie_is_secure_when_served_over_tls(console):
    # uvicorn takes the scheme from a loopback proxy's X-Forwarded-Proto
    r = console.http.get("/console/login", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in r.headers["set-cookie"]


def test_a_wrong_token_is_refused_and_the_refusal_audited(console):
    page = console.http.get("/console/login")
    csrf = re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)
    r = console.http.post("/console/login", data={"login_csrf": csrf, "token": "nope"})
    assert r.status_code == 401
    assert "not valid" in r.text
    assert [w for _, _, w in console.access() if w.startswith("denied")] == [
        "denied:401 POST /console/login"
    ]


def test_a_login_form_without_its_cookie_is_refused(console):
    r = console.http.post("/console/login", data={"login_csrf": "forged", "token": ADMIN})
    assert r.status_code == 403


def test_a_form_without_the_sessions_csrf_token_is_refused(console):
    case_id = _open(console)
    console.login()
    r = console.http.post(
        f"/console/cases/{case_id}/events",
        data={"csrf": "not-the-token", "version": "1", "event": "found_ineligible"},
    )
    assert r.status_code == 403
    assert console.engine.get(case_id).version == 1
    assert any(w.startswith("denied:403 POST /console/cases") for _, _, w in console.access())


def test_an_event_form_moves_the_case_and_a_stale_one_is_refused(console):
    case_id = _open(console)
    console.login()
    token = console.csrf(f"/console/cases/{case_id}")
    form = {"csrf": token, "version": "1", "event": "first_contact_made",
            "f_contact_date": "2026-05-30", "f_case_manager_id": ""}  # fmt: skip
    r = console.http.post(f"/console/cases/{case_id}/events", data=form)
    assert r.status_code == 303
    assert console.engine.get(case_id).state == "assessing"
    again = console.http.post(f"/console/cases/{case_id}/events", data=form)
    assert again.status_code == 409
    assert "this form was for version 1" in again.text
    assert console.engine.get(case_id).version == 2


def test_a_payload_the_schema_refuses_is_shown_not_sent(console):
    case_id = _open(console)
    console.login()
    token = console.csrf(f"/console/cases/{case_id}")
    r = console.http.post(
        f"/console/cases/{case_id}/events",
        data={"csrf": token, "version": "1", "event": "first_contact_made"},
    )
    assert r.status_code == 422
    assert "contact_date is required" in r.text
    assert console.engine.get(case_id).version == 1


def test_a_reader_sees_a_case_but_may_not_send_events(console):
    case_id = _open(console)
    console.login(READER)
    page = console.http.get(f"/console/cases/{case_id}")
    assert page.status_code == 200
    assert "no <code>write</code> permission" in page.text
    token = console.csrf(f"/console/cases/{case_id}")
    r = console.http.post(
        f"/console/cases/{case_id}/events",
        data={"csrf": token, "version": "1", "event": "found_ineligible"},
    )
    assert r.status_code == 403
    assert console.engine.get(case_id).version == 1


def test_showing_a_case_is_audited_and_no_url_carries_patient_data(console):
    case_id = _open(console, patient="P-424242")
    console.login()
    page = console.http.get(f"/console/cases/{case_id}")
    assert "P-424242" in page.text  # the record is on the page...
    urls = re.findall(r'(?:href|action|src)="([^"]*)"', page.text)
    assert urls
    assert not [u for u in urls if "424242" in u]  # ...and in no link or form target
    assert ("console:admin", case_id, "console:case") in console.access()


def test_logging_off_ends_the_session(console):
    console.login()
    token = console.csrf("/console/cases")
    r = console.http.post("/console/logout", data={"csrf": token})
    assert r.status_code == 303
    assert console.http.get("/console/cases").status_code == 303


def test_the_search_lists_overdue_cases_most_late_first_with_the_total(console):
    ids = []
    for days in (30, 40, 21):  # opened 30, 40 and 21 days before NOW
        console.clock.set(NOW - timedelta(days=days))
        ids.append(_open(console))
    console.clock.set(NOW - timedelta(hours=1))
    fresh = _open(console)
    console.clock.set(NOW)
    console.login()
    page = console.http.get("/console/cases", params={"overdue": "yes", "sort": "late"})
    listed = re.findall(r'href="/console/cases/([0-9a-f-]{36})"', page.text)
    assert listed == [ids[1], ids[0], ids[2]]
    assert fresh not in listed
    assert "<strong>3</strong> cases match" in page.text
