"""The HTTP API over real HTTP on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from phi_sentinel import SENTINEL

PROBLEM = "application/problem+json"
RECORD = {"patient_id": "P-0001", "program": SENTINEL, "priority": "routine", "risk_level": "low"}


def _open(api, who="cm", record=None, **headers):
    return api.http.post(
        "/v1/cases",
        json={"workflow": "brokerage", "record": record or RECORD},
        headers={**api.as_(who), **headers},
    )


def _send(api, case_id, event, payload=None, who="cm", **headers):
    return api.http.post(
        f"/v1/cases/{case_id}/events",
        json={"event": event, "payload": payload or {}},
        headers={**api.as_(who), **headers},
    )


def _problem(response, status, type_suffix):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["type"] == f"https://casework.dev/problems/{type_suffix}"
    assert body["status"] == status
    assert {"title", "detail", "instance"} <= set(body)
    return body


def test_health_answers_without_a_token(api):
    r = api.http.get("/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_ready_reports_database_ok(api):
    r = api.http.get("/ready")
    assert r.status_code == 200
    assert r.json()["checks"]["database"] == "ok"


def test_open_case_returns_201_with_location_etag_and_allowed_events(api):
    r = _open(api)
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["etag"] == '"1"'
    assert r.headers["location"] == f"/v1/cases/{body['id']}"
    assert body["state"] == "referral_received"
    assert body["phase"] == "intake"
    assert body["record"]["patient_id"] == "P-0001"
    assert [t["name"] for t in body["pending_timers"]] == ["first_contact_deadline"]
    options = {o["event"]: o for o in body["allowed_events"]}
    assert options["first_contact_made"]["allowed"] is True
    assert options["assessment_completed"]["reason"] == "wrong_state"


def test_get_case_shows_reason_for_each_event_not_allowed_for_the_caller(api):
    case_id = _open(api).json()["id"]
    r = api.http.get(f"/v1/cases/{case_id}", headers=api.as_("reader"))
    assert r.status_code == 200
    options = {o["event"]: o for o in r.json()["allowed_events"]}
    # the reader client has no roles: every event of the state is refused for a role
    assert options["first_contact_made"] == {
        **options["first_contact_made"],
        "allowed": False,
        "reason": "role_missing",
    }
    assert options["plan_completed"]["reason"] == "wrong_state"
    assert r.headers["etag"] == '"1"'


def test_send_event_moves_the_case_and_bumps_the_etag(api):
    case_id = _open(api).json()["id"]
    r = _send(api, case_id, "first_contact_made", {"contact_date": "2026-01-06"})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "assessing"
    assert r.headers["etag"] == '"2"'
    history = api.http.get(f"/v1/cases/{case_id}/history", headers=api.as_("cm")).json()
    assert [e["event"] for e in history["entries"]] == ["@open", "first_contact_made"]
    assert history["entries"][1]["actor"] == "svc:ward-app"


def test_no_token_is_401_with_www_authenticate(api):
    r = api.http.get("/v1/definitions")
    _problem(r, 401, "unauthorized")
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_invalid_token_is_401(api):
    r = api.http.get("/v1/definitions", headers={"Authorization": "Bearer nope"})
    _problem(r, 401, "unauthorized")
    assert "invalid_token" in r.headers["www-authenticate"]


def test_read_only_client_cannot_open_cases(api):
    _problem(_open(api, who="reader"), 403, "permission-missing")


def test_wrong_role_is_403_event_rejected_never_applied(api):
    case_id = _open(api).json()["id"]
    # found_ineligible needs intake_coordinator or supervisor: the cm client has the former,
    # approve_closure needs supervisor, which the cm client lacks; first reach its state.
    r = _send(api, case_id, "reassign_case_manager", {"case_manager_id": "cm-2"})
    body = _problem(r, 403, "role-missing")
    assert body["reason"] == "role_missing"
    assert body["event"] == "reassign_case_manager"
    assert api.engine.get(case_id).version == 1


def test_event_in_wrong_state_is_409_with_allowed_events(api):
    case_id = _open(api).json()["id"]
    body = _problem(_send(api, case_id, "assessment_completed"), 409, "event-rejected")
    assert body["reason"] == "wrong_state"
    assert "first_contact_made" in body["allowed_events"]


def test_unknown_case_is_404(api):
    _problem(api.http.get("/v1/cases/no-such-case", headers=api.as_("cm")), 404, "case-not-found")
    _problem(_send(api, "no-such-case", "x"), 404, "case-not-found")


def test_unknown_workflow_is_404(api):
    r = api.http.post("/v1/cases", json={"workflow": "nope", "record": {}}, headers=api.as_("cm"))
    _problem(r, 404, "unknown-workflow")
    r = api.http.get("/v1/definitions/nope", headers=api.as_("cm"))
    _problem(r, 404, "unknown-workflow")


def test_invalid_record_is_422_without_echoing_values(api):
    secret = "Jane Q. Patient"
    r = _open(api, record={**RECORD, "patient_id": secret})
    body = _problem(r, 422, "payload-invalid")
    assert body["json_path"] == "$.patient_id"
    assert secret not in r.text


def test_invalid_payload_is_422(api):
    case_id = _open(api).json()["id"]
    r = _send(api, case_id, "first_contact_made", {"contact_date": 17})
    _problem(r, 422, "payload-invalid")


def test_malformed_json_is_400(api):
    r = api.http.post(
        "/v1/cases",
        content=b'{"workflow": "brokerage", "record": {',
        headers={**api.as_("cm"), "Content-Type": "application/json"},
    )
    _problem(r, 400, "malformed-json")


def test_wrong_types_are_422_without_echoing_input(api):
    r = api.http.post(
        "/v1/cases",
        json={"workflow": ["brokerage"], "record": "Jane Q. Patient"},
        headers=api.as_("cm"),
    )
    body = _problem(r, 422, "request-invalid")
    assert {tuple(e["loc"]) for e in body["errors"]} >= {("body", "workflow"), ("body", "record")}
    assert "Jane" not in r.text


def test_huge_body_is_413(api):
    big = {"workflow": "brokerage", "record": {**RECORD, "program": "x" * 100_000}}
    _problem(api.http.post("/v1/cases", json=big, headers=api.as_("cm")), 413, "body-too-large")


def test_deep_nesting_is_400_before_parsing(api):
    deep = "[" * 5000 + "]" * 5000
    body = '{"workflow": "brokerage", "record": {"x": ' + deep + "}}"
    r = api.http.post(
        "/v1/cases",
        content=body.encode(),
        headers={**api.as_("cm"), "Content-Type": "application/json"},
    )
    _problem(r, 400, "json-too-deep")


def test_idempotency_key_replays_the_first_result(api):
    key = {"Idempotency-Key": "open-0001"}
    first = _open(api, **key)
    again = _open(api, **key)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    page = api.http.get("/v1/cases", headers=api.as_("cm")).json()
    assert len(page["items"]) == 1
    case_id = first.json()["id"]
    send_key = {"Idempotency-Key": "contact-0001"}
    a = _send(api, case_id, "first_contact_made", {"contact_date": "2026-01-06"}, **send_key)
    b = _send(api, case_id, "first_contact_made", {"contact_date": "2026-01-06"}, **send_key)
    assert a.status_code == b.status_code == 200
    assert a.json()["version"] == b.json()["version"] == 2


def test_idempotency_key_reused_for_another_request_is_422(api):
    key = {"Idempotency-Key": "open-0002"}
    assert _open(api, **key).status_code == 201
    r = _open(api, record={**RECORD, "patient_id": "P-0002"}, **key)
    _problem(r, 422, "idempotency-key-reused")


def test_if_match_with_the_current_version_applies(api):
    case_id = _open(api).json()["id"]
    r = _send(
        api, case_id, "first_contact_made", {"contact_date": "2026-01-06"}, **{"If-Match": '"1"'}
    )
    assert r.status_code == 200, r.text


def test_if_match_with_a_stale_version_is_412(api):
    case_id = _open(api).json()["id"]
    assert _send(api, case_id, "contact_attempt_failed").status_code == 200
    r = _send(
        api, case_id, "first_contact_made", {"contact_date": "2026-01-06"}, **{"If-Match": '"1"'}
    )
    body = _problem(r, 412, "precondition-failed")
    assert body["actual_version"] == 2
    assert api.engine.get(case_id).state == "referral_received"


def test_if_match_that_is_not_a_version_is_412(api):
    case_id = _open(api).json()["id"]
    r = _send(api, case_id, "contact_attempt_failed", **{"If-Match": '"abc"'})
    _problem(r, 412, "precondition-failed")


def test_search_filters_and_paginates_without_records(api):
    ids = [_open(api, record={**RECORD, "patient_id": f"P-000{i}"}).json()["id"] for i in range(3)]
    _send(api, ids[0], "first_contact_made", {"contact_date": "2026-01-06"})
    r = api.http.get("/v1/cases", params={"state": "assessing"}, headers=api.as_("cm"))
    assert [c["id"] for c in r.json()["items"]] == [ids[0]]
    seen = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.http.get("/v1/cases", params=params, headers=api.as_("cm")).json()
        seen += [c["id"] for c in page["items"]]
        assert all("record" not in c for c in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids)


def test_search_overdue_finds_cases_past_a_deadline(api):
    case_id = _open(api).json()["id"]
    api.clock.advance(timedelta(days=30))
    r = api.http.get("/v1/cases", params={"overdue": "true"}, headers=api.as_("cm"))
    assert [c["id"] for c in r.json()["items"]] == [case_id]


def test_bad_cursor_is_400(api):
    r = api.http.get("/v1/cases", params={"cursor": "%%%garbage"}, headers=api.as_("cm"))
    _problem(r, 400, "invalid-cursor")


def test_definitions_list_show_and_diagram(api):
    items = api.http.get("/v1/definitions", headers=api.as_("reader")).json()["items"]
    assert "brokerage" in {d["name"] for d in items}
    d = api.http.get("/v1/definitions/brokerage", headers=api.as_("reader")).json()
    assert d["initial"] == "referral_received"
    assert d["case_schema"]["type"] == "object"
    for fmt, marker in (("mermaid", "referral_received"), ("dot", "digraph")):
        r = api.http.get(
            "/v1/definitions/brokerage/diagram", params={"format": fmt}, headers=api.as_("reader")
        )
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
        assert marker in r.text


def test_reads_of_case_records_are_audited(api, database_url):
    from sqlalchemy import text

    case_id = _open(api).json()["id"]
    api.http.get(f"/v1/cases/{case_id}", headers=api.as_("reader"))
    api.http.get(f"/v1/cases/{case_id}/history", headers=api.as_("reader"))
    from engine.store.database import create_database_engine

    db = create_database_engine(database_url)
    with db.connect() as conn:
        rows = conn.execute(
            text("select actor, what from access_log where case_id = :c"), {"c": case_id}
        ).all()
    db.dispose()
    assert ("svc:dashboard", "case") in {tuple(r) for r in rows}
    assert ("svc:dashboard", "history") in {tuple(r) for r in rows}


def test_metrics_need_the_metrics_permission(api):
    _problem(api.http.get("/metrics"), 401, "unauthorized")
    _problem(api.http.get("/metrics", headers=api.as_("cm")), 403, "permission-missing")


def test_metrics_count_applied_and_rejected_events_and_backlog(api):
    case_id = _open(api).json()["id"]
    _send(api, case_id, "assessment_completed")
    _send(api, case_id, "first_contact_made", {"contact_date": "2026-01-06"})
    text_ = api.http.get("/metrics", headers=api.as_("admin")).text
    assert 'casework_events_applied_total{event="@open",workflow="brokerage"} 1.0' in text_
    assert (
        'casework_events_applied_total{event="first_contact_made",workflow="brokerage"} 1.0'
        in text_
    )
    assert (
        'casework_events_rejected_total{event="assessment_completed",reason="wrong_state",'
        'workflow="brokerage"} 1.0' in text_
    )
    assert 'casework_cases{state="assessing",workflow="brokerage"} 1.0' in text_
    assert 'casework_outbox{status="dead"} 0.0' in text_


def test_unknown_route_is_problem_json_404(api):
    _problem(api.http.get("/v1/nope", headers=api.as_("cm")), 404, "not-found")


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_wrong_method_is_problem_json_405(api, method):
    r = api.http.request(method, "/v1/cases", headers=api.as_("cm"))
    _problem(r, 405, "method-not-allowed")


def test_search_by_opening_date_and_closed(api):
    case_id = _open(api).json()["id"]
    q = lambda **p: [  # noqa: E731
        c["id"] for c in api.http.get("/v1/cases", params=p, headers=api.as_("cm")).json()["items"]
    ]
    assert q(opened_after="2026-01-01T00:00:00Z") == [case_id]
    assert q(opened_after="2026-02-01T00:00:00+00:00") == []
    assert q(opened_before="2026-01-01") == []
    assert q(closed="false") == [case_id]
    assert q(closed="true") == []


def test_unknown_definition_version_is_404(api):
    r = api.http.get("/v1/definitions/brokerage", params={"version": 99}, headers=api.as_("cm"))
    _problem(r, 404, "unknown-workflow")


def test_reader_sees_definitions_but_cannot_send(api):
    case_id = _open(api).json()["id"]
    assert api.http.get("/v1/definitions", headers=api.as_("reader")).status_code == 200
    _problem(_send(api, case_id, "contact_attempt_failed", who="reader"), 403, "permission-missing")
