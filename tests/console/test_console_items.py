"""The console's "Work items" section over HTTP: each item shown, add and send forms
(fields from the schemas), the version check and CSRF as for case events."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from engine.api import Client, ClientRegistry, create_app, hash_token
from engine.api.clients import PERMISSIONS
from engine.api.console.forms import FIELD_PREFIX
from engine.clock import ManualClock
from tests.api.conftest import LiveServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from item_reads_support import CM, HOUSING, linking_case, open_demo

ADMIN = "console-admin-token-0123456789"


@pytest.fixture
def console(database_url: str) -> Iterator[tuple[object, httpx.Client]]:
    engine = open_demo(database_url, ManualClock())
    clients = ClientRegistry(
        [Client("admin", "console:admin", ("*",), hash_token(ADMIN), PERMISSIONS)]
    )
    try:
        app = create_app(engine, clients=clients)
        with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=60) as http:
            page = http.get("/console/login")
            csrf = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
            assert csrf is not None
            r = http.post(
                "/console/login",
                data={"login_csrf": csrf.group(1), "token": ADMIN},
                follow_redirects=False,
            )
            assert r.status_code == 303, r.text
            yield engine, http
    finally:
        engine.close()


def _form_csrf(text: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', text)
    assert found is not None
    return found.group(1)


def test_case_page_shows_items_and_adds_and_sends_through_forms(console) -> None:
    engine, http = console
    cid = linking_case(engine)
    engine.add_item(cid, "referral", HOUSING, **CM)
    page = http.get(f"/console/cases/{cid}")
    assert page.status_code == 200
    assert "Work items" in page.text
    assert "referral-1" in page.text
    assert "Housing First" in page.text  # the item's data
    assert "no_answer due" in page.text  # its deadlines
    assert f'action="/console/cases/{cid}/items"' in page.text
    assert f'name="{FIELD_PREFIX}provider"' in page.text  # the add form's data fields
    assert f'action="/console/cases/{cid}/items/referral-1/events"' in page.text
    version = engine.get(cid).version
    csrf = _form_csrf(page.text)

    r = http.post(
        f"/console/cases/{cid}/items",
        data={
            "csrf": csrf,
            "version": str(version),
            "type": "referral",
            FIELD_PREFIX + "provider": "Food Bank",
            FIELD_PREFIX + "service": "food_support",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    items = {i.id: i.state for i in engine.get(cid).items}
    assert items == {"referral-1": "sent", "referral-2": "sent"}

    # a stale form (the case changed since) is refused and changes nothing
    r = http.post(
        f"/console/cases/{cid}/items/referral-1/events",
        data={"csrf": csrf, "version": str(version), "event": "accepted"},
        follow_redirects=False,
    )
    assert r.status_code == 409
    assert "Nothing was sent" in r.text
    assert engine.get(cid).items[0].state == "sent"

    r = http.post(
        f"/console/cases/{cid}/items/referral-1/events",
        data={"csrf": csrf, "version": str(engine.get(cid).version), "event": "accepted"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert engine.get(cid).items[0].state == "accepted"

    # without the CSRF token nothing is written
    before = engine.get(cid).version
    r = http.post(
        f"/console/cases/{cid}/items/referral-2/events",
        data={"version": str(before), "event": "accepted"},
        follow_redirects=False,
    )
    assert r.status_code in (400, 403)
    assert engine.get(cid).version == before
