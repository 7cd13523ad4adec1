"""The console's ownership pages over HTTP: caseloads against the model's ratio, worklists,
and assigning from the case page (deny by default, readers vs writers vs the assigning
role, CSRF, a stale form refused, every read audited, no patient data in URLs)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from engine.api import Client, ClientRegistry, create_app, hash_token
from engine.api.clients import PERMISSIONS
from engine.clock import ManualClock
from engine.runtime.engine import Engine
from tests.api.conftest import LiveServer
from tests.console.seed import CM, RECORD, WORKFLOWS
from tests.console.test_console_http import ADMIN, NOW, READER, Console

CLERK = "console-clerk-token-0123456789ab"  # may write, but not the supervisor role


@pytest.fixture
def owned(database_url: str) -> Iterator[Console]:
    clock = ManualClock(NOW - timedelta(days=30))
    engine = Engine.open(database_url, workflows=WORKFLOWS, clock=clock)
    clients = ClientRegistry(
        [
            Client("admin", "console:admin", ("*",), hash_token(ADMIN), PERMISSIONS),
            Client("reader", "console:reader", (), hash_token(READER), frozenset({"read"})),
            Client("clerk", "console:clerk", ("case_manager",), hash_token(CLERK),
                   frozenset({"read", "write"})),
        ]
    )  # fmt: skip
    for person, team in (("cm-ana", "north"), ("cm-ben", "north"), ("cm-cy", "south")):
        engine.put_staff(person, teams=[team], roles=["case_manager"], actor="t")
    try:
        app = create_app(engine, clients=clients)
        with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=60) as http:
            yield Console(engine, clock, http)
    finally:
        engine.close()


def _open(c: Console, workflow: str = "brokerage", n: int = 0, to: str | None = None) -> str:
    case = c.engine.open_case(workflow, {**RECORD, "patient_id": f"P-{n:05d}"}, actor="t",
                              roles=CM)  # fmt: skip
    if to is not None:
        c.engine.assign(case.id, to, reason="intake", actor="t", roles=["supervisor"])
    return case.id


def _assign_form(c: Console, case_id: str, **fields: str) -> httpx.Response:
    page = c.http.get(f"/console/cases/{case_id}").text
    version = re.search(r'id="assign-form-h".*?name="version" value="(\d+)"', page, re.S)
    assert version is not None, "no assignment form on the case page"
    data = {"csrf": c.csrf(f"/console/cases/{case_id}"), "version": version.group(1), **fields}
    return c.http.post(f"/console/cases/{case_id}/assignment", data=data, follow_redirects=False)


@pytest.mark.parametrize("path", ["/console/caseloads", "/console/worklist",
                                  "/console/worklist?assignee=cm-ana"])  # fmt: skip
def test_the_ownership_pages_send_an_anonymous_visitor_to_log_in(owned, path):
    r = owned.http.get(path)
    assert r.status_code == 303
    assert r.headers["location"] == "/console/login"


def test_an_anonymous_assignment_post_changes_nothing(owned):
    case_id = _open(owned)
    data = {"csrf": "x", "version": "1", "assignee": "cm-ana", "reason": "r"}
    r = owned.http.post(f"/console/cases/{case_id}/assignment", data=data)
    assert r.status_code == 303
    assert r.headers["location"] == "/console/login"
    assert owned.engine.get(case_id).version == 1


def test_a_supervisor_assigns_and_reassigns_from_the_case_page(owned):
    case_id = _open(owned)
    owned.login(ADMIN)
    page = owned.http.get(f"/console/cases/{case_id}").text
    assert '<dd id="current-assignee">unassigned</dd>' in page
    r = _assign_form(owned, case_id, assignee="cm-ana", team="", reason="new referral")
    assert r.status_code == 303
    assert r.headers["location"] == f"/console/cases/{case_id}?assigned=1"
    page = owned.http.get(r.headers["location"]).text
    assert '<dd id="current-assignee">cm-ana</dd>' in page
    assert '<dd id="current-team">north</dd>' in page
    assert "Assignment saved." in page
    assert ">Reassign</h3>" in page
    r = _assign_form(owned, case_id, assignee="cm-cy", reason="moved south")
    assert r.status_code == 303
    history = [h for h in owned.engine.history(case_id) if h.event == "@assign"]
    assert [(h.actor, h.payload["assignee"], h.payload["operation"]) for h in history] == [
        ("console:admin", "cm-ana", "assign"),
        ("console:admin", "cm-cy", "reassign"),
    ]
    page = owned.http.get(f"/console/cases/{case_id}").text
    assert "reassign to cm-cy (south) by console:admin: moved south" in page


def test_an_unknown_person_is_refused_naming_why(owned):
    case_id = _open(owned)
    owned.login(ADMIN)
    r = _assign_form(owned, case_id, assignee="cm-nobody", reason="r")
    assert r.status_code == 422
    assert "Refused:" in r.text
    assert "cm-nobody" in r.text
    assert owned.engine.get(case_id).version == 1


def test_a_stale_assignment_form_is_refused_and_changes_nothing(owned):
    case_id = _open(owned)
    owned.login(ADMIN)
    csrf = owned.csrf(f"/console/cases/{case_id}")  # the form is for version 1
    owned.engine.assign(case_id, "cm-ben", reason="meanwhile", actor="t", roles=["supervisor"])
    data = {"csrf": csrf, "version": "1", "assignee": "cm-ana", "reason": "r"}
    r = owned.http.post(f"/console/cases/{case_id}/assignment", data=data)
    assert r.status_code == 409
    assert "this form was for version 1 of the case" in r.text
    assert "Nothing was assigned" in r.text
    view = owned.engine.get(case_id)
    assert view.version == 2
    assert '<dd id="current-assignee">cm-ben</dd>' in r.text


def test_an_assignment_post_without_this_sessions_csrf_token_is_refused(owned):
    case_id = _open(owned)
    owned.login(ADMIN)
    owned.http.get(f"/console/cases/{case_id}")
    base = {"version": "1", "assignee": "cm-ana", "reason": "r"}
    for data in (base, {**base, "csrf": "forged"}):
        r = owned.http.post(f"/console/cases/{case_id}/assignment", data=data)
        assert r.status_code == 403
    assert owned.engine.get(case_id).version == 1


@pytest.mark.parametrize(("token", "needs"), [(READER, "write&#39; permission"),
                                              (CLERK, "supervisor")])  # fmt: skip
def test_readers_and_writers_without_the_assigning_role_see_no_form_and_are_refused(
    owned, token, needs
):
    case_id = _open(owned, to="cm-ana")
    owned.login(token)
    page = owned.http.get(f"/console/cases/{case_id}").text
    assert '<dd id="current-assignee">cm-ana</dd>' in page  # they may see who holds it
    assert 'id="assign-form-h"' not in page
    assert "You may not assign this case" in page
    csrf = owned.csrf(f"/console/cases/{case_id}")
    data = {"csrf": csrf, "version": "2", "assignee": "cm-ben", "reason": "r"}
    r = owned.http.post(f"/console/cases/{case_id}/assignment", data=data)
    assert r.status_code == 403
    assert needs in r.text
    assert owned.engine.get(case_id).version == 2


def test_caseloads_flag_who_is_over_the_models_ratio_in_words(owned):
    for n in range(11):  # intensive (ACT): target 10
        _open(owned, "intensive", n, to="cm-ana")
    for n in range(3):
        _open(owned, "brokerage", 100 + n, to="cm-ben")
    owned.login(READER)
    page = owned.http.get("/console/caseloads").text
    rows = re.findall(r"<tr class=\"(over-target)?\">\s*<th scope=\"row\" class=\"mono\">"
                      r"([^<]+)</th>(.*?)</tr>", page, re.S)  # fmt: skip
    by_holder = {holder: (cls, rest) for cls, holder, rest in rows}
    assert by_holder["cm-ana"][0] == "over-target"
    assert "Over target" in by_holder["cm-ana"][1]  # words, not colour alone
    assert "110 %" in by_holder["cm-ana"][1]
    assert "Within target" in by_holder["cm-ben"][1]
    assert "6 %" in by_holder["cm-ben"][1]  # 3 of 50
    assert "north" in by_holder  # teams too
    only = owned.http.get("/console/caseloads?over=yes").text
    assert "cm-ana" in only
    assert "cm-ben" not in only
    assert ("console:reader", None, "console:caseloads") in owned.access()


def test_a_worklist_lists_overdue_first_pages_by_cursor_and_links_each_case(owned):
    ids = []
    for n in range(30):  # the older ones are past their first-contact deadline by NOW
        owned.clock.set(NOW - timedelta(days=30 - n))
        ids.append(_open(owned, "brokerage", n, to="cm-ana"))
    owned.clock.set(NOW)
    owned.login(READER)
    seen: list[str] = []
    statuses: list[str] = []
    url = "/console/worklist?assignee=cm-ana&due_within=&overdue=&limit=25"
    pages = 0
    while url:
        page = owned.http.get(url.replace("&amp;", "&")).text
        pages += 1
        body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in page else ""
        seen += re.findall(r'href="/console/cases/([0-9a-f-]+)"', body)
        statuses += re.findall(r"<td>(<strong>Overdue</strong>|in )", body)
        nxt = re.search(r'href="(/console/worklist\?[^"]+)" rel="next"', page)
        url = nxt.group(1) if nxt else ""
    assert pages >= 2
    assert set(seen) == set(ids)
    first_on_time = next(i for i, s in enumerate(statuses) if s == "in ")
    assert "<strong>Overdue</strong>" in statuses[:first_on_time]
    assert all(s == "in " for s in statuses[first_on_time:])  # overdue first
    assert ("console:reader", None, "console:worklist") in owned.access()


def test_the_due_within_and_overdue_filters_narrow_the_worklist(owned):
    owned.clock.set(NOW - timedelta(days=30))
    late = _open(owned, "brokerage", 1, to="cm-ana")
    owned.clock.set(NOW)
    fresh = _open(owned, "brokerage", 2, to="cm-ana")
    owned.login(READER)
    overdue = owned.http.get("/console/worklist?assignee=cm-ana&overdue=yes").text
    assert late in overdue
    assert fresh not in overdue
    soon = owned.http.get("/console/worklist?assignee=cm-ana&due_within=1d").text
    assert late in soon  # overdue is due within any window
    everything = owned.http.get("/console/worklist?assignee=cm-ana").text
    assert fresh in everything
    team = owned.http.get("/console/worklist?team=north").text
    assert late in team
    role = owned.http.get("/console/worklist?role=case_manager").text
    assert late in role
    assert owned.http.get("/console/worklist?assignee=cm-ana&team=north").status_code == 400
    assert owned.http.get("/console/worklist?assignee=cm-ana&due_within=3y").status_code == 400
    forged = owned.http.get("/console/worklist?assignee=cm-ana&cursor=abc")
    assert forged.status_code == 400


def test_ownership_pages_put_no_patient_data_in_urls_and_audit_case_reads(owned):
    case_id = _open(owned, "brokerage", 4242, to="cm-ana")
    owned.login(ADMIN)
    for path in ("/console/caseloads", "/console/worklist?assignee=cm-ana",
                 f"/console/cases/{case_id}"):  # fmt: skip
        page = owned.http.get(path).text
        for target in re.findall(r'(?:href|action)="([^"]+)"', page):
            assert "P-04242" not in target
    assert ("console:admin", case_id, "console:case") in owned.access()
