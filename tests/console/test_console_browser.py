"""The console in a real browser: an operator finds the most overdue case, sees it on its
diagram, moves it, is refused a stale form, retries failed actions, and is logged off
when idle. Every page passes axe-core with no serious or critical violation, and is
photographed into test-artefacts/console/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.console.conftest import ARTEFACTS, Served, serve
from tests.console.seed import ADMIN_TOKEN

pytestmark = pytest.mark.slow


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[Served]:
    yield from serve(database_url, tmp_path, idle_seconds=600)


def _axe(page: Any) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]
    assert bad == [], f"{page.url}: {bad}"


def _shot(page: Any, name: str, backend: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"{backend}-{name}.png"), full_page=True)


def _diagrams_rendered(page: Any) -> None:
    # a selector, not a function: the page's CSP forbids the eval a polled function needs
    page.wait_for_selector("body[data-diagrams]", state="attached", timeout=120_000)
    assert page.evaluate("document.body.dataset.diagrams") == "rendered"


def _login(page: Any, url: str) -> None:
    page.goto(f"{url}/console/cases")
    assert page.url.startswith(f"{url}/console/login")
    page.fill("#token", ADMIN_TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/console/cases")


def test_an_operator_finds_the_most_overdue_case_moves_it_and_retries_failed_actions(
    served: Served, browser: Any, database_url: str
) -> None:
    backend = database_url.split(":", 1)[0].split("+", 1)[0]
    url = served.url
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(60_000)
    page = context.new_page()

    page.goto(f"{url}/console/queues")  # deny by default: every page sends you to log in
    assert "/console/login" in page.url
    _axe(page)
    _shot(page, "login", backend)
    _login(page, url)

    # search: overdue only, most late first, with the count
    page.select_option("#overdue", "yes")
    page.select_option("#sort", "late")
    page.click("form.filters button[type=submit]")
    page.wait_for_url(re.compile(r".*overdue=yes.*"))
    expected = len(served.seeded.overdue)
    assert page.inner_text("p.count").startswith(f"{expected} cases match")
    links = page.locator("table.cases tbody tr td:first-child a")
    assert links.count() == expected
    most_late = served.seeded.overdue[0]  # opened 60 days ago
    assert links.first.inner_text() == most_late
    _axe(page)
    _shot(page, "search", backend)

    # the case: highlighted on its diagram, why it is here, deadlines, audited history
    links.first.click()
    page.wait_for_url(f"{url}/console/cases/{most_late}")
    _diagrams_rendered(page)
    assert page.inner_text("#current-state") == "referral_received"
    current = page.locator("div.diagram svg g.current")
    assert current.count() == 1
    assert "referral_received" in (current.first.text_content() or "")
    assert "Overdue, not yet fired: first_contact_deadline" in page.inner_text("#main")
    assert page.inner_text("#audit").startswith("Audit chain verified: 1 row")
    _axe(page)
    _shot(page, "case", backend)

    # a second tab loads the same form: it will be stale
    stale = context.new_page()
    stale.goto(f"{url}/console/cases/{most_late}")

    page.fill("#first_contact_made-contact_date", "2026-12-01")
    page.fill("#first_contact_made-case_manager_id", "cm-17")
    page.click("text=Send first_contact_made")
    page.wait_for_url(re.compile(r".*sent=first_contact_made"))
    assert "Sent first_contact_made: the case is now in assessing" in page.inner_text("#main")
    assert page.inner_text("#current-state") == "assessing"
    first_row = page.locator("#history tbody tr").first.inner_text()
    assert "first_contact_made" in first_row
    assert "console:admin" in first_row
    assert page.inner_text("#audit").startswith("Audit chain verified: 2 rows")
    _diagrams_rendered(page)
    visited = page.locator("div.diagram svg g.visited")
    assert visited.count() == 1
    assert "referral_received" in (visited.first.text_content() or "")
    _shot(page, "case-after-send", backend)

    stale.select_option("#put_on_hold-hold_reason", "hospitalised")
    stale.click("text=Send put_on_hold")
    stale.wait_for_load_state()
    problem = stale.inner_text("#problem")
    assert problem.startswith("Refused: this form was for version 1 of the case")
    assert "version 2, in assessing" in problem
    assert stale.inner_text("#current-state") == "assessing"  # nothing was sent
    _axe(stale)
    _shot(stale, "stale-refused", backend)
    stale.close()

    # queues: closures waiting for approval, holds due for review, overdue by workflow
    page.click("nav >> text=Queues")
    page.wait_for_url(f"{url}/console/queues")
    text = page.inner_text("#main")
    for case_id in served.seeded.closing + served.seeded.on_hold:
        assert case_id in text
    _axe(page)
    _shot(page, "queues", backend)

    # failed actions: retry one, then many
    page.click("nav >> text=Failed actions")
    page.wait_for_url(f"{url}/console/outbox")
    dead = page.locator("#dead tbody tr")
    assert dead.count() >= 3
    _axe(page)
    _shot(page, "outbox", backend)
    dead.first.locator("button").click()
    page.wait_for_url(re.compile(r".*retried=1"))
    assert "1 action made due now" in page.inner_text("#main")
    assert page.locator("#failing tbody tr").count() == 1  # pending again, last error kept
    boxes = page.locator("#dead tbody input[type=checkbox]")
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.click("text=Retry selected")
    page.wait_for_url(re.compile(r".*retried=2"))
    assert "2 actions made due now" in page.inner_text("#main")
    _shot(page, "outbox-retried", backend)

    # definitions: the list, one diagram and its deadlines table
    page.click("nav >> text=Definitions")
    page.wait_for_url(f"{url}/console/definitions")
    _axe(page)
    _shot(page, "definitions", backend)
    page.click("text=hospital")
    _diagrams_rendered(page)
    assert "im_notice" in page.inner_text("#main")
    _axe(page)
    _shot(page, "definition", backend)

    page.click("text=Log off")
    page.wait_for_url(re.compile(r".*/console/login\?out=1"))
    page.goto(f"{url}/console/cases")
    assert "/console/login" in page.url
    context.close()

    rows = served.access_rows()
    assert ("console:admin", most_late, "console:case") in rows  # every case view audited
    assert ("console:admin", None, "console:login") in rows
    assert ("console:admin", None, "console:logout") in rows
    assert any(w.startswith("retry_outbox:") for _, _, w in rows)


@pytest.fixture
def served_briefly(sqlite_url: str, tmp_path: Path) -> Iterator[Served]:
    yield from serve(sqlite_url, tmp_path, idle_seconds=2)


def test_an_idle_operator_is_logged_off(served_briefly: Served, browser: Any) -> None:
    url = served_briefly.url
    context = browser.new_context()
    page = context.new_page()
    _login(page, url)
    # the page leaves by itself once the idle limit has passed (2 s, then 1 s more)
    page.wait_for_url(re.compile(r".*/console/login\?expired=1"), timeout=60_000)
    assert "logged off after a period of inactivity" in page.inner_text("#main")
    _shot(page, "idle-logged-off", "sqlite")
    page.goto(f"{url}/console/cases")  # and the server has ended the session
    assert "/console/login?expired=1" in page.url
    context.close()
    assert ("console:admin", None, "console:idle-logoff") in served_briefly.access_rows()


def test_a_supervisor_sees_caseloads_opens_a_worklist_and_reassigns_a_case(
    served: Served, browser: Any, database_url: str
) -> None:
    from engine.runtime.engine import Engine
    from tests.console.seed import CM, RECORD, WORKFLOWS

    backend = database_url.split(":", 1)[0].split("+", 1)[0]
    url = served.url
    held = served.seeded.overdue + served.seeded.on_time
    with Engine.open(database_url, workflows=WORKFLOWS) as eng:
        for person, team in (("cm-ana", "north"), ("cm-ben", "north"), ("cm-cy", "south")):
            eng.put_staff(person, teams=[team], roles=["case_manager"], actor="test")
        for case_id in held:
            eng.assign(case_id, "cm-ana", reason="intake", actor="test", roles=["supervisor"])
        for n in range(11):  # ACT's ratio is 10: cm-ben is over it
            case = eng.open_case("intensive", {**RECORD, "patient_id": f"P-9{n:04d}"},
                                 actor="test", roles=CM)  # fmt: skip
            eng.assign(case.id, "cm-ben", reason="intake", actor="test", roles=["supervisor"])
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(60_000)
    page = context.new_page()
    _login(page, url)

    page.click("nav >> text=Caseloads")
    page.wait_for_url(f"{url}/console/caseloads")
    ben = page.locator("#caseloads-assignee tbody tr", has_text="cm-ben")
    assert "Over target" in ben.inner_text()  # in words, not colour alone
    assert "110 %" in ben.inner_text()
    assert "Within target" in page.locator("#caseloads-assignee tr", has_text="cm-ana").inner_text()
    _axe(page)
    _shot(page, "caseloads", backend)

    page.locator("#caseloads-assignee tr", has_text="cm-ana").locator("a").click()
    page.wait_for_url(re.compile(r".*/console/worklist\?assignee=cm-ana"))
    rows = page.locator("#worklist tbody tr")
    assert rows.count() >= len(held)
    assert "Overdue" in rows.first.inner_text()  # overdue first
    _axe(page)
    _shot(page, "worklist", backend)

    page.click("nav >> text=Worklist")  # the page without a holder chosen, then a filter
    page.fill("#assignee", "cm-ana")
    page.select_option("#overdue", "yes")
    page.click("form.filters button[type=submit]")
    page.wait_for_url(re.compile(r".*overdue=yes.*"))
    overdue_ids = {a.inner_text() for a in page.locator("#worklist tbody a").all()}
    assert overdue_ids == set(served.seeded.overdue)

    most_late = served.seeded.overdue[0]
    page.locator("#worklist tbody a", has_text=most_late).first.click()
    page.wait_for_url(f"{url}/console/cases/{most_late}")
    assert page.inner_text("#current-assignee") == "cm-ana"
    page.fill("#assign-assignee", "cm-cy")
    page.fill("#assign-reason", "cm-ana on leave")
    page.click("text=Save assignment")
    page.wait_for_url(re.compile(r".*assigned=1"))
    assert page.inner_text("#current-assignee") == "cm-cy"
    assert page.inner_text("#current-team") == "south"
    assert "@assign" in page.locator("#history tbody tr").first.inner_text()
    _diagrams_rendered(page)
    _axe(page)
    page.locator("#assignment").screenshot(path=str(ARTEFACTS / f"{backend}-case-assignment.png"))
    context.close()

    rows_seen = served.access_rows()
    for what in ("console:caseloads", "console:worklist"):
        assert ("console:admin", None, what) in rows_seen
    assert ("console:admin", most_late, "console:case") in rows_seen
