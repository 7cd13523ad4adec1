"""Ownership over HTTP: the directory (permission staff), assignment with If-Match and
Idempotency-Key, the bad inputs as problems naming what is allowed, caseloads against the
bundled intensive (ACT) ratio, the worklist, bulk reassignment, the metrics."""

from __future__ import annotations

from datetime import timedelta

from tests.api.conftest import Api

RECORD = {"program": "act-team", "priority": "routine", "risk_level": "low"}


def _open(api: Api, n: int) -> str:
    rec = {**RECORD, "patient_id": f"P-{n:04d}"}
    return api.engine.open_case("intensive", rec, actor="intake", roles=["intake_coordinator"]).id


def _staff(api: Api) -> None:
    for person, team in (("cm-ana", "act-north"), ("cm-ben", "act-north"), ("cm-cy", "act-south")):
        r = api.http.put(
            f"/v1/staff/{person}",
            json={"teams": [team], "roles": ["case_manager"]},
            headers=api.as_("admin"),
        )
        assert r.status_code == 200, r.text


def test_the_directory_needs_the_staff_permission(api: Api) -> None:
    r = api.http.put("/v1/staff/cm-ana", json={"teams": ["x"]}, headers=api.as_("cm"))
    assert r.status_code == 403
    assert r.json()["permission"] == "staff"
    _staff(api)
    r = api.http.get("/v1/staff", headers=api.as_("reader"))
    assert [p["id"] for p in r.json()["items"]] == ["cm-ana", "cm-ben", "cm-cy"]
    assert r.json()["items"][0]["source"] == "api"
    assert api.http.get("/v1/staff/nobody", headers=api.as_("reader")).status_code == 404
    assert ("api:admin", None, "staff_put:cm-ana") in api.access_rows()


def test_assignment_over_http(api: Api) -> None:
    _staff(api)
    cid = _open(api, 1)
    body = {"assignee": "cm-ana", "reason": "new referral"}
    r = api.http.put(f"/v1/cases/{cid}/assignment", json=body, headers=api.as_("cm"))
    assert r.status_code == 403
    assert r.json()["error"] == "assign-denied"
    assert r.json()["allowed_roles"] == ["supervisor"]
    wrong = {**api.as_("admin"), "If-Match": '"7"'}
    r = api.http.put(f"/v1/cases/{cid}/assignment", json=body, headers=wrong)
    assert r.status_code == 412
    ok = {**api.as_("admin"), "If-Match": '"1"', "Idempotency-Key": "assign-1"}
    r = api.http.put(f"/v1/cases/{cid}/assignment", json=body, headers=ok)
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == '"2"'
    assert r.json()["assignee"] == "cm-ana"
    assert r.json()["team"] == "act-north"
    again = api.http.put(f"/v1/cases/{cid}/assignment", json=body, headers=ok)
    assert again.json() == r.json()
    bad = {"assignee": "cm-zed", "reason": "typo"}
    r = api.http.put(f"/v1/cases/{cid}/assignment", json=bad, headers=api.as_("admin"))
    assert r.status_code == 422
    assert r.json()["reason"] == "unknown-person"
    r = api.http.put(
        f"/v1/cases/{cid}/assignment", json={"assignee": "cm-ana"}, headers=api.as_("admin")
    )
    assert r.status_code == 422  # a reason is required
    history = api.http.get(f"/v1/cases/{cid}/history", headers=api.as_("admin")).json()
    assigned = [e for e in history["entries"] if e["event"] == "@assign"]
    assert len(assigned) == 1
    assert assigned[0]["payload"]["reason"] == "new referral"


def test_a_supervisor_finds_who_is_over_ratio_what_is_overdue_and_moves_a_caseload(
    api: Api,
) -> None:
    _staff(api)
    ids = [_open(api, n) for n in range(12)]
    admin = api.as_("admin")
    for cid in ids[:11]:
        body = {"assignee": "cm-ana", "reason": "intake"}
        assert api.http.put(f"/v1/cases/{cid}/assignment", json=body, headers=admin).is_success
    body = {"assignee": "cm-cy", "reason": "intake"}
    api.http.put(f"/v1/cases/{ids[11]}/assignment", json=body, headers=admin)
    loads = api.http.get("/v1/caseloads", params={"over_target": True}, headers=admin).json()
    assert [(c["holder"], c["cases"], c["load"]) for c in loads["items"]] == [("cm-ana", 11, 1.1)]
    assert loads["items"][0]["by_workflow"] == [
        {"workflow": "intensive", "cases": 11, "weighted": 11.0, "target": 10.0}
    ]
    teams = api.http.get("/v1/caseloads", params={"by": "team"}, headers=admin).json()
    assert {c["holder"]: c["cases"] for c in teams["items"]} == {"act-north": 11, "act-south": 1}

    api.clock.advance(timedelta(days=3))  # past the ACT first-contact deadline
    work = api.http.get(
        "/v1/worklist", params={"assignee": "cm-ana", "overdue": True, "limit": 5}, headers=admin
    ).json()
    assert len(work["items"]) == 5
    assert all(e["overdue"] and e["assignee"] == "cm-ana" for e in work["items"])
    assert work["next_cursor"] is not None
    dues = [e["due_at"] for e in work["items"]]
    assert dues == sorted(dues)
    rest = api.http.get(
        "/v1/worklist",
        params={"assignee": "cm-ana", "overdue": True, "cursor": work["next_cursor"]},
        headers=admin,
    ).json()
    seen = {e["case_id"] for e in work["items"] + rest["items"]}
    assert seen <= set(ids[:11])
    assert not {e["case_id"] for e in work["items"]} & {e["case_id"] for e in rest["items"]}
    r = api.http.get(
        "/v1/worklist", params={"assignee": "cm-ana", "due_within": "soon"}, headers=admin
    )
    assert r.status_code == 400
    assert api.http.get("/v1/worklist", headers=admin).status_code == 400

    move = {"from_assignee": "cm-ana", "to": ["cm-ben", "cm-cy"], "reason": "Ana leaves"}
    plan = api.http.post("/v1/assignments/bulk", json={**move, "dry_run": True}, headers=admin)
    assert plan.json()["counts"] == {"planned": 11}
    keyed = {**admin, "Idempotency-Key": "ana-leaves"}
    done = api.http.post("/v1/assignments/bulk", json=move, headers=keyed).json()
    assert done["counts"] == {"reassigned": 11}
    loads = api.http.get("/v1/caseloads", headers=admin).json()["items"]
    assert {c["holder"]: c["cases"] for c in loads} == {"cm-ben": 6, "cm-cy": 6}
    retry = api.http.post(
        "/v1/assignments/bulk", json={**move, "case_ids": ids[:11]}, headers=keyed
    ).json()
    assert retry["counts"] == {"unchanged": 11}

    metrics = api.http.get("/metrics", headers=admin).text
    assert 'casework_caseload_assignee_cases{assignee="cm-ben"} 6.0' in metrics
    assert 'casework_caseload_assignee_over_target{assignee="cm-ben"} 0.0' in metrics
    assert 'casework_worklist_overdue_team{team="act-north"}' in metrics
    assert "casework_time_to_first_assignment_seconds_count 12.0" in metrics
