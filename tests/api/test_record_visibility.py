"""Write responses carry the case record only to clients that may read it, and audit that."""

from __future__ import annotations

from engine.api import openapi_document
from engine.cli.serve import build_openapi_app

from .test_http_api import _open, _send


def test_a_write_only_client_gets_cases_without_records(api):
    r = _open(api, who="writer")
    assert r.status_code == 201, r.text
    opened = r.json()
    assert "record" not in opened
    assert opened["state"] == "referral_received"
    assert opened["allowed_events"]
    r = _send(api, opened["id"], "first_contact_made", {"contact_date": "2026-01-06"}, who="writer")
    assert r.status_code == 200, r.text
    assert "record" not in r.json()
    assert r.json()["state"] == "assessing"
    assert r.headers["etag"] == '"2"'
    assert api.access_rows() == []  # no record left the server, so no read to audit


def test_a_client_that_may_read_gets_the_record_and_the_read_is_audited(api):
    r = _open(api, who="cm")
    case_id = r.json()["id"]
    assert r.json()["record"]["patient_id"] == "P-0001"
    r = _send(api, case_id, "first_contact_made", {"contact_date": "2026-01-06"}, who="cm")
    assert r.json()["record"]["first_contact_date"] == "2026-01-06"
    assert api.access_rows() == [
        ("svc:ward-app", case_id, "case"),
        ("svc:ward-app", case_id, "case"),
    ]


def test_an_idempotent_replay_to_a_write_only_client_has_no_record_either(api):
    key = {"Idempotency-Key": "feed-0001"}
    first = _open(api, who="writer", **key)
    again = _open(api, who="writer", **key)
    assert first.json()["id"] == again.json()["id"]
    assert "record" not in again.json()


def test_openapi_documents_that_record_needs_the_read_permission():
    doc = openapi_document(build_openapi_app())
    schemas = doc["components"]["schemas"]
    case = schemas.get("CaseOut") or schemas["CaseOut-Output"]
    assert "record" not in case.get("required", [])
    assert "read" in case["properties"]["record"]["description"]
