"""Denied requests (401, 403) are written to the persistent access audit."""

from __future__ import annotations

from urllib.parse import quote

from .test_http_api import RECORD, _open, _send


def _denials(api):
    return [row for row in api.access_rows() if row[2].startswith("denied:")]


def test_unauthenticated_read_of_a_case_is_audited_as_a_denial(api):
    case_id = _open(api).json()["id"]
    assert api.http.get(f"/v1/cases/{case_id}").status_code == 401
    bad = {"Authorization": "Bearer not-a-token"}
    assert api.http.get(f"/v1/cases/{case_id}/history", headers=bad).status_code == 401
    assert _denials(api) == [
        ("anonymous", case_id, "denied:401 GET /v1/cases/{case_id}"),
        ("anonymous", case_id, "denied:401 GET /v1/cases/{case_id}/history"),
    ]


def test_missing_permission_is_audited_with_the_client_actor(api):
    case_id = _open(api).json()["id"]
    r = _send(api, case_id, "contact_attempt_failed", who="reader")
    assert r.status_code == 403
    r = api.http.get("/metrics", headers=api.as_("cm"))
    assert r.status_code == 403
    assert _denials(api) == [
        ("svc:dashboard", case_id, "denied:403 POST /v1/cases/{case_id}/events"),
        ("svc:ward-app", None, "denied:403 GET /metrics"),
    ]


def test_missing_role_is_audited_as_a_denial(api):
    case_id = _open(api).json()["id"]
    r = _send(api, case_id, "reassign_case_manager", {"case_manager_id": "cm-2"})
    assert r.status_code == 403
    assert _denials(api) == [
        ("svc:ward-app", case_id, "denied:403 POST /v1/cases/{case_id}/events"),
    ]


def test_denials_without_a_case_have_no_case_id(api):
    assert api.http.get("/v1/definitions").status_code == 401
    r = api.http.post("/v1/cases", json={"workflow": "brokerage", "record": RECORD})
    assert r.status_code == 401
    assert _denials(api) == [
        ("anonymous", None, "denied:401 GET /v1/definitions"),
        ("anonymous", None, "denied:401 POST /v1/cases"),
    ]


def test_a_case_id_that_cannot_be_a_case_is_not_stored_in_the_audit(api):
    # longer than any case id, and with a NUL (PostgreSQL text refuses NUL)
    for junk in ("x" * 150, "a\x00b", "a\nb"):
        r = api.http.get(f"/v1/cases/{quote(junk, safe='')}")
        assert r.status_code == 401
    assert _denials(api) == [("anonymous", None, "denied:401 GET /v1/cases/{case_id}")] * 3
