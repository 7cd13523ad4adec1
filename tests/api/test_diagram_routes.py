"""Diagrams over HTTP: a highlighted state on a definition, a case's position and path."""

from __future__ import annotations

from tests.api.test_http_api import _open, _problem, _send


def test_definition_diagram_highlights_the_state_asked_for(api):
    r = api.http.get(
        "/v1/definitions/brokerage/diagram",
        params={"highlight": "assessing"},
        headers=api.as_("reader"),
    )
    assert r.status_code == 200
    assert "    class assessing current" in r.text


def test_definition_diagram_refuses_a_state_the_workflow_lacks(api):
    r = api.http.get(
        "/v1/definitions/brokerage/diagram",
        params={"highlight": "nowhere"},
        headers=api.as_("reader"),
    )
    body = _problem(r, 422, "unknown-state")
    assert "nowhere" in body["detail"]


def test_case_diagram_shows_current_state_and_path_and_is_audited(api):
    case_id = _open(api).json()["id"]
    moved = _send(api, case_id, "found_ineligible")
    assert moved.status_code == 200, moved.text
    r = api.http.get(f"/v1/cases/{case_id}/diagram", headers=api.as_("reader"))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert "    class closing_review current" in r.text
    assert "    class referral_received visited" in r.text
    dot = api.http.get(
        f"/v1/cases/{case_id}/diagram", params={"format": "dot"}, headers=api.as_("reader")
    )
    assert dot.status_code == 200
    bold = [ln for ln in dot.text.splitlines() if "penwidth=2.5" in ln]
    assert bold
    assert all(ln.startswith('  "referral_received" -> "closing_review"') for ln in bold)
    assert ("svc:dashboard", case_id, "case diagram") in api.access_rows()


def test_case_diagram_needs_read_permission_and_an_existing_case(api):
    case_id = _open(api).json()["id"]
    _problem(api.http.get(f"/v1/cases/{case_id}/diagram"), 401, "unauthorized")
    r = api.http.get(f"/v1/cases/{case_id}/diagram", headers=api.as_("writer"))
    _problem(r, 403, "permission-missing")
    r = api.http.get("/v1/cases/no-such-case/diagram", headers=api.as_("reader"))
    _problem(r, 404, "case-not-found")
    assert not [row for row in api.access_rows() if row[2] == "case diagram"]
