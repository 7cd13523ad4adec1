"""Search cursors are signed by the server; search instants must fit in UTC's range
(one without an offset is read as UTC, as the API documents)."""

from __future__ import annotations

import httpx
import pytest

from engine.api import create_app
from engine.clock import ManualClock
from engine.runtime.cursors import encode_cursor
from engine.runtime.engine import Engine

from .conftest import TOKENS, WORKFLOWS, LiveServer, registry
from .test_http_api import RECORD, _open, _problem


def _search(api, **params):
    return api.http.get("/v1/cases", params=params, headers=api.as_("cm"))


def _two_pages(api) -> str:
    for i in range(3):
        _open(api, record={**RECORD, "patient_id": f"P-100{i}"})
    page = _search(api, limit=2).json()
    assert page["next_cursor"] is not None
    return str(page["next_cursor"])


@pytest.mark.parametrize(
    "values",
    [
        ["2026-01-01T00:00:00+00:00", "00000000-0000-0000-0000-000000000000"],  # well-formed
        ["2026-01-01T00:00:00", "x"],  # naive
        ["2026-01-01", "x"],  # date only
        ["9999-12-31T23:59:59-23:59", "x"],  # past the end of time in UTC
        ["0001-01-01T00:00:00+23:59", "x"],  # before the start of time in UTC
        [None, None],
        [1, 2, 3],
    ],
)
def test_a_cursor_the_server_did_not_issue_is_400(api, values):
    _two_pages(api)
    _problem(_search(api, cursor=encode_cursor(values)), 400, "invalid-cursor")


def test_a_tampered_cursor_is_400(api):
    cursor = _two_pages(api)
    assert _search(api, cursor=cursor).status_code == 200
    flipped = cursor[:-1] + ("A" if cursor[-1] != "A" else "B")
    _problem(_search(api, cursor=flipped), 400, "invalid-cursor")
    _problem(_search(api, cursor=cursor[:-1]), 400, "invalid-cursor")
    _problem(_search(api, cursor=cursor.split(".")[0]), 400, "invalid-cursor")
    _problem(_search(api, cursor="." + cursor), 400, "invalid-cursor")


def test_cursors_from_another_server_are_400_unless_it_shares_the_secret(database_url):
    engine = Engine.open(database_url, workflows=WORKFLOWS, clock=ManualClock())
    auth = {"Authorization": f"Bearer {TOKENS['cm']}"}
    try:
        apps = [
            create_app(engine, clients=registry(), cursor_secret=b"shared-secret-0123456789abcdef"),
            create_app(engine, clients=registry(), cursor_secret=b"shared-secret-0123456789abcdef"),
            create_app(engine, clients=registry()),  # a random secret of its own
        ]
        with LiveServer(apps[0]) as one, LiveServer(apps[1]) as two, LiveServer(apps[2]) as three:
            for i in range(3):
                r = httpx.post(
                    f"{one.url}/v1/cases",
                    json={"workflow": "brokerage", "record": {**RECORD, "patient_id": f"P-20{i}0"}},
                    headers=auth,
                    timeout=60,
                )
                assert r.status_code == 201
            cursor = httpx.get(
                f"{one.url}/v1/cases", params={"limit": 2}, headers=auth, timeout=60
            ).json()["next_cursor"]
            r = httpx.get(
                f"{two.url}/v1/cases", params={"cursor": cursor}, headers=auth, timeout=60
            )
            assert r.status_code == 200
            assert len(r.json()["items"]) == 1
            r = httpx.get(
                f"{three.url}/v1/cases", params={"cursor": cursor}, headers=auth, timeout=60
            )
            assert r.status_code == 400
    finally:
        engine.close()


@pytest.mark.parametrize("name", ["opened_after", "opened_before"])
@pytest.mark.parametrize(
    "value",
    [
        "9999-12-31T23:59:59-23:59",
        "0001-01-01T00:00:00+23:59",
    ],
)
def test_search_instants_without_offset_or_out_of_range_are_400(api, name, value):
    _problem(_search(api, **{name: value}), 400, "invalid-instant")


def test_search_instants_with_an_offset_work_at_the_edges(api):
    case_id = _open(api).json()["id"]
    assert [
        c["id"] for c in _search(api, opened_after="0001-01-01T00:00:00-23:59").json()["items"]
    ] == [case_id]
    assert [
        c["id"] for c in _search(api, opened_before="9999-12-31T23:59:59+23:59").json()["items"]
    ] == [case_id]
    assert _search(api, opened_after="2026-01-01T05:00:00+05:00").json()["items"]
