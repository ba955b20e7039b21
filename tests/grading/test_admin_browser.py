"""The operator's page in Chromium: signed in with the secret from the keyboard, and opened by a platform
administrator from a launch, who retries a failed grade with the keyboard; axe-core finds no violations."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from marketplace.web.services import services
from tests.grading.conftest import Graded, wait_for
from tests.grading.gradebook_peer import Fault
from tests.lti.test_browser_launch import TIMEOUT_MS

SECRET = "s" * 40
PLATFORM_ADMIN = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator"
REFUSAL = "User not found in course or is not a student"


@pytest.fixture
def operated(graded: Graded) -> Graded:
    """The graded environment with an admin secret, and one score the platform refused."""
    app: Any = graded.app
    state = services(app)
    app.state.services = dataclasses.replace(state, settings=dataclasses.replace(state.settings, admin_token=SECRET))
    graded.gradebook.faults.append(Fault("score", 422, {"errors": {"type": "bad_request", "message": REFUSAL}}))
    _, token = graded.launch("ada")
    assert graded.submit(token, {"q1": "0"}).status_code == 200
    wait_for(lambda: graded.job_states() == [("ada", "failed")], what="the refused score to fail")
    return graded


def no_axe_violations(page: Page) -> None:
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


def tab_to(page: Page, name: str, role: str = "button", limit: int = 60) -> None:
    target = page.get_by_role(role, name=name)  # type: ignore[arg-type]
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("element => element === document.activeElement"):
            return
    raise AssertionError(f"{name} was not reached with the keyboard")


def test_the_secret_holder_signs_in_with_the_keyboard(operated: Graded, page: Page) -> None:
    page.goto(operated.env.tool_url + "/admin")
    expect(page.get_by_role("alert")).to_contain_text("for the tool's administrators")
    no_axe_violations(page)
    tab_to(page, "Administrator secret", role="textbox")
    page.keyboard.type(SECRET)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Tool keys")).to_be_visible()
    expect(page.get_by_role("table", name="Scores the platform refused, newest first")).to_contain_text(REFUSAL)
    no_axe_violations(page)


def test_a_platform_administrator_retries_a_failed_grade_from_a_launch(operated: Graded, page: Page) -> None:
    peer = operated.env.peer
    # A link of its own (the tool's admin placement would be one), showing no resource: the plain launched page.
    peer.user_id, peer.roles, peer.extra_claims, peer.resource_link_id = "root", [PLATFORM_ADMIN], {}, "admin-link"
    page.goto(peer.login_url())
    opener = page.get_by_role("button", name="Open the operator's page")
    with page.context.expect_page() as opened:
        opener.click()
    admin = opened.value
    admin.set_default_timeout(TIMEOUT_MS)
    expect(admin.get_by_role("heading", name="Grade delivery failures")).to_be_visible()
    expect(admin.get_by_text("your platform only")).to_be_visible()
    expect(admin.get_by_role("heading", name="Tool keys")).to_have_count(0)  # tool-wide: the secret holder's
    no_axe_violations(admin)
    tab_to(admin, "Retry the grade of ada")
    admin.keyboard.press("Enter")
    expect(admin.get_by_role("status")).to_contain_text("Queued the grade of ada again")
    wait_for(lambda: operated.job_states() == [("ada", "sent")], what="the retried grade to be sent")
    no_axe_violations(admin)
