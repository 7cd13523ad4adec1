"""Transfer, reopen and links over HTTP: deny by default, problem types, audited reads."""

from __future__ import annotations

from datetime import timedelta

from .conftest import Api

CM = {"actor": "cm-1", "roles": ["case_manager"]}
BROKERAGE = {
    "patient_id": "P-0001",
    "program": "housing",
    "priority": "routine",
    "risk_level": "low",
}


def _monitoring_brokerage(api: Api) -> str:
    eng = api.engine
    case = eng.open_case("brokerage", BROKERAGE, **CM)
    eng.send(case.id, "first_contact_made", {"contact_date": "2026-01-02"}, **CM)
    eng.send(
        case.id, "assessment_completed", {"assessed_needs": ["housing"], "risk_level": "low"}, **CM
    )
    eng.send(
        case.id,
        "plan_completed",
        {"plan_services": ["housing_assistance"], "plan_start_date": "2026-01-05"},
        **CM,
    )
    return case.id


def test_transfer_over_http_returns_both_cases_and_links_them(api: Api) -> None:
    case_id = _monitoring_brokerage(api)
    r = api.http.post(
        f"/v1/cases/{case_id}/transfer",
        json={"to_workflow": "intensive"},
        headers={**api.as_("cm"), "If-Match": '"4"', "Idempotency-Key": "xfer-P-0001"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["source"]["state"], body["target"]["workflow"], body["target"]["state"]) == (
        "transferred",
        "intensive",
        "outreach",
    )
    assert r.headers["ETag"] == f'"{body["source"]["version"]}"'
    target = body["target"]["id"]
    links = api.http.get(f"/v1/cases/{target}/links", headers=api.as_("reader"))
    assert links.status_code == 200
    ((link),) = links.json()["links"]
    assert (link["direction"], link["case_id"]) == ("from", case_id)
    assert ("svc:dashboard", target, "links") in api.access_rows()
    again = api.http.post(  # a retry of the same request replays it: one target case
        f"/v1/cases/{case_id}/transfer",
        json={"to_workflow": "intensive"},
        headers={**api.as_("cm"), "If-Match": '"4"', "Idempotency-Key": "xfer-P-0001"},
    )
    assert again.status_code == 200, again.text
    assert again.json()["target"]["id"] == target


def test_transfer_refusals_are_problems(api: Api) -> None:
    case_id = _monitoring_brokerage(api)
    r = api.http.post(f"/v1/cases/{case_id}/transfer", json={"to_workflow": "intensive"})
    assert r.status_code == 401
    r = api.http.post(
        f"/v1/cases/{case_id}/transfer",
        json={"to_workflow": "hospital"},
        headers=api.as_("cm"),
    )
    assert (r.status_code, r.json()["error"]) == (422, "transfer-invalid")
    assert r.json()["declared"] == ["intensive"]
    r = api.http.post(
        f"/v1/cases/{case_id}/transfer",
        json={"to_workflow": "intensive"},
        headers={**api.as_("cm"), "If-Match": '"1"'},
    )
    assert r.status_code == 412


def _closed_hospital(api: Api) -> str:
    eng = api.engine
    case = eng.open_case(
        "hospital",
        {
            "patient_id": "P-0501",
            "program": "acute-medicine",
            "priority": "immediate",
            "risk_level": "high",
            "medicare_beneficiary": False,
        },
        **CM,
    )
    ur = {"actor": "ur", "roles": ["utilization_reviewer"]}
    eng.send(case.id, "admission_review_completed", {"continued_stay_days": 3}, **ur)
    eng.send(case.id, "discharge_planning_started", **CM)
    eng.add_item(case.id, "education", {"topic": "medication"}, item_id="edu-1", **CM)
    eng.send_item(case.id, "edu-1", "teach_back_passed", **CM)
    md = {"actor": "md", "roles": ["attending_physician"]}
    eng.send(case.id, "discharge_ordered", {"disposition": "home"}, **md)
    eng.send(case.id, "patient_discharged", **CM)
    eng.send(case.id, "client_withdrew", {"withdrawal_reason": "other"}, **CM)
    sup = {"actor": "sup", "roles": ["supervisor"]}
    eng.send(case.id, "approve_closure", {"closure_date": "2026-01-01"}, **sup)
    return case.id


def test_reopen_over_http_and_its_refusals(api: Api) -> None:
    case_id = _closed_hospital(api)
    r = api.http.post(
        f"/v1/cases/{case_id}/reopen",
        json={"payload": {"planned": False}},
        headers=api.as_("reader"),
    )
    assert r.status_code == 403  # no write permission
    api.clock.advance(timedelta(days=10))
    r = api.http.post(
        f"/v1/cases/{case_id}/reopen", json={"payload": {"planned": False}}, headers=api.as_("cm")
    )
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["closed_at"]) == ("admitted", None)
    r = api.http.post(
        f"/v1/cases/{case_id}/reopen", json={"payload": {"planned": False}}, headers=api.as_("cm")
    )
    assert (r.status_code, r.json()["error"], r.json()["reason"]) == (
        409,
        "reopen-denied",
        "not_closed",
    )


def test_reopen_after_the_window_and_without_the_role(api: Api) -> None:
    case_id = _closed_hospital(api)
    writer_only = api.http.post(  # the referral feed's roles do not include utilization review
        f"/v1/cases/{case_id}/reopen",
        json={"payload": {"planned": False}},
        headers=api.as_("writer"),
    )
    assert writer_only.status_code == 200  # case_manager is one of its roles
    api.engine.send(case_id, "client_withdrew", {"withdrawal_reason": "other"}, **CM)
    api.engine.send(
        case_id,
        "approve_closure",
        {"closure_date": "2026-01-01"},
        actor="sup",
        roles=["supervisor"],
    )
    api.clock.advance(timedelta(days=31))
    r = api.http.post(
        f"/v1/cases/{case_id}/reopen", json={"payload": {"planned": False}}, headers=api.as_("cm")
    )
    assert (r.status_code, r.json()["reason"]) == (409, "window_passed")
