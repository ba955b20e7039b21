"""The picker in a real Chromium: the four placements by their accessible names, multi-select, keyboard only,
200% zoom, and an axe-core scan with no violations. Screenshots go to test-artifacts/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.lti.conftest import LtiEnvironment
from tests.lti.dl_receiver import DeepLinkReceiver, Expectation
from tests.lti.peer import DL_SETTINGS, LEARNER
from tests.lti.test_browser_launch import ARTIFACTS, TIMEOUT_MS, chromium

FIXTURE = json.loads((Path(__file__).parent.parent / "fixtures" / "canvas-deep-linking.json").read_text())
PLACEMENT = "https://www.instructure.com/placement"




@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    with chromium(tmp_path / "profile", block_third_party_cookies=False) as context:
        found = context.pages[0] if context.pages else context.new_page()
        found.set_default_timeout(TIMEOUT_MS)
        yield found


def open_picker(lti: LtiEnvironment, receiver: DeepLinkReceiver, page: Page, placement: str) -> None:
    claim: dict[str, Any] = dict(FIXTURE["deep_linking_settings_by_placement"][placement])
    claim["deep_link_return_url"] = receiver.return_url
    lti.peer.message_type = "LtiDeepLinkingRequest"
    lti.peer.extra_claims = {DL_SETTINGS: claim, PLACEMENT: placement}
    receiver.expectation = Expectation(placement, claim["accept_types"], claim["accept_multiple"],
                                       lti.peer.deployment_id)
    page.goto(lti.peer.login_url())  # login → platform auth → auto-posted launch → the picker
    expect(page.get_by_label("Search")).to_be_visible()


def search_for(page: Page, words: str) -> None:
    """Type a query and wait for its results: the first screen (no query) lists resources too, so a label
    found right after typing may belong to the list about to be replaced."""
    page.get_by_label("Search").fill(words)
    expect(page.locator("#picker-results .summary")).not_to_contain_text("in the catalog")
    # A locator wait, not wait_for_function: a string predicate is eval'd in the page, which the CSP forbids.
    expect(page.locator(".htmx-request")).to_have_count(0)


def returned_items(receiver: DeepLinkReceiver, page: Page) -> list[dict[str, Any]]:
    expect(page.locator("body")).to_contain_text("content_items")
    assert receiver.problems == [], receiver.problems
    items: list[dict[str, Any]] = receiver.received[-1]["https://purl.imsglobal.org/spec/lti-dl/claim/content_items"]
    return items


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_editor_button_multi_select_with_search(extras: LtiEnvironment, receiver: DeepLinkReceiver,
                                               page: Page) -> None:
    open_picker(extras, receiver, page, "editor_button")
    search_for(page, "leaf")
    expect(page.get_by_label("Leaf image resource")).to_be_visible()
    page.get_by_label("Leaf image resource").check()
    expect(page.locator("#picker-tray")).to_contain_text("Selected (1)")
    search_for(page, "revolution")
    expect(page.get_by_label("The French Revolution")).to_be_visible()
    page.get_by_label("The French Revolution").check()
    expect(page.locator("#picker-tray")).to_contain_text("Selected (2)")
    page.get_by_role("button", name="Preview The French Revolution").click()
    expect(page.locator("#picker-preview")).to_contain_text("Open “The French Revolution” in a new tab")
    shot(page, "picker-editor_button")
    page.get_by_role("button", name="Add selected").click()
    items = returned_items(receiver, page)
    assert [item["type"] for item in items] == ["html", "link"]  # the picture as a figure with its credit


def test_link_selection_keyboard_only(extras: LtiEnvironment, receiver: DeepLinkReceiver, page: Page) -> None:
    open_picker(extras, receiver, page, "link_selection")
    page.get_by_label("Search").focus()
    page.keyboard.type("quiz")
    quiz = page.get_by_label("Leaf quiz resource")
    expect(quiz).to_be_visible()
    quiz.focus()
    page.keyboard.press("Space")
    expect(page.locator("#picker-tray")).to_contain_text("Selected (1)")
    page.get_by_role("button", name="Add selected").focus()
    page.keyboard.press("Enter")
    (item,) = returned_items(receiver, page)
    assert item["type"] == "ltiResourceLink" and item["lineItem"]["scoreMaximum"] == 2


def test_assignment_selection_with_points(extras: LtiEnvironment, receiver: DeepLinkReceiver, page: Page) -> None:
    open_picker(extras, receiver, page, "assignment_selection")
    page.get_by_label("Plant cells under the microscope").check()  # a radio: one item only
    expect(page.locator("#picker-tray")).to_contain_text("Selected (1)")
    page.get_by_label("Points").fill("12")
    shot(page, "picker-assignment_selection")
    page.get_by_role("button", name="Add selected").click()
    (item,) = returned_items(receiver, page)
    assert item["lineItem"]["scoreMaximum"] == 12.0


def test_homework_submission_as_a_student(extras: LtiEnvironment, receiver: DeepLinkReceiver, page: Page) -> None:
    extras.peer.roles = [LEARNER]
    open_picker(extras, receiver, page, "homework_submission")
    search_for(page, "leaf file")
    page.get_by_label("Leaf file resource").check()
    expect(page.locator("#picker-tray")).to_contain_text("Selected (1)")
    shot(page, "picker-homework_submission")
    results = Axe().run(page)  # the student's page, with the portfolio form
    assert results.violations_count == 0, results.generate_report()
    page.get_by_role("button", name="Submit selected").click()
    (item,) = returned_items(receiver, page)
    assert item["type"] == "file"


def test_accessibility_and_200_percent_zoom(extras: LtiEnvironment, receiver: DeepLinkReceiver, page: Page) -> None:
    open_picker(extras, receiver, page, "editor_button")
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()
    # 200% zoom of a 1280x900 window: the page must fit a 640x450 viewport without sideways scrolling.
    page.set_viewport_size({"width": 640, "height": 450})
    shot(page, "picker-zoom-200")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    expect(page.get_by_role("button", name="Add selected")).to_be_visible()


def test_relaxed_search_says_so(extras: LtiEnvironment, receiver: DeepLinkReceiver, page: Page) -> None:
    open_picker(extras, receiver, page, "link_selection")
    # No resource holds both words: the picker shows those holding either, and says so.
    page.get_by_label("Search").fill("what is a leaf under the microscope")
    expect(page.locator("#picker-results")).to_contain_text(
        "No resources match all your words; showing those that match any of them.")
    expect(page.get_by_label("Plant cells under the microscope")).to_be_visible()
    expect(page.get_by_label("Leaf quiz resource")).to_be_visible()
    # Stop words and question words no longer sink a query.
    page.get_by_label("Search").fill("what is the French Revolution")
    expect(page.get_by_label("The French Revolution")).to_be_visible()
    expect(page.locator("#picker-results")).not_to_contain_text("match all your words")


def test_no_results_help_keeps_filters_visible_and_clears_them(extras: LtiEnvironment, receiver: DeepLinkReceiver,
                                                               page: Page) -> None:
    open_picker(extras, receiver, page, "editor_button")
    search_for(page, "fractions")
    page.get_by_label("Mathematics (1)").check()
    expect(page.get_by_label("Fractions with pizza")).to_be_visible()
    page.get_by_label("Search").fill("photosynthesis")
    help_region = page.get_by_role("region", name="No resources match your words with the filters you set.")
    expect(help_region).to_be_visible()
    expect(help_region.get_by_role("button", name="Remove filter Mathematics")).to_be_visible()
    expect(help_region.get_by_role("button", name="Search all resources for “photosynthesis” (2)")).to_be_visible()
    expect(help_region.get_by_role("button", name="Biology (2)")).to_be_visible()
    shot(page, "picker-no-results-help")
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()
    help_region.get_by_role("button", name="Clear all filters").click()
    expect(page.get_by_label("Photosynthesis basics")).to_be_visible()
    expect(page.get_by_label("Mathematics (0)")).to_have_count(0)
    # Words the catalog does not hold: the nearest subjects are offered instead of a blank.
    page.get_by_label("Search").fill("xylophonist")
    nothing = page.get_by_role("region", name="No resources contain your words.")
    expect(nothing).to_be_visible()
    expect(nothing.get_by_role("button", name="Biology (7)")).to_be_visible()


def test_filtering_by_what_the_licence_allows(extras: LtiEnvironment, receiver: DeepLinkReceiver,
                                              page: Page) -> None:
    open_picker(extras, receiver, page, "link_selection")
    search_for(page, "earthquakes")
    # Each result says what its licence lets a teacher do, in plain words, with the licence's link.
    result = page.get_by_role("listitem").filter(has=page.get_by_label("Plate tectonics and earthquakes"))
    expect(result).to_contain_text("Free to share and adapt, not for commercial use, with credit")
    expect(result.get_by_role("link", name="CC BY-NC 4.0")).to_have_attribute(
        "href", "https://creativecommons.org/licenses/by-nc/4.0/")
    page.get_by_role("button", name="Preview Plate tectonics and earthquakes").click()
    preview = page.locator("#picker-preview")
    expect(preview.get_by_role("link", name="Creative Commons Attribution-NonCommercial 4.0 International")
           ).to_be_visible()
    expect(preview).to_contain_text("Credit: Plate tectonics and earthquakes by Ada Author")

    page.get_by_label("Search").fill("")
    expect(page.get_by_label("Plate tectonics and earthquakes")).to_be_visible()
    allows = page.get_by_role("group", name="What you may do")
    expect(allows.get_by_label("Allows commercial use (9)")).to_be_visible()  # all but the CC BY-NC one
    expect(allows.get_by_label("Allows adaptations (10)")).to_be_visible()
    allows.get_by_label("Allows commercial use (9)").check()
    expect(page.get_by_label("Plate tectonics and earthquakes")).to_have_count(0)
    expect(page.get_by_label("The French Revolution")).to_be_visible()
    expect(allows.get_by_label("Allows adaptations (9)")).to_be_visible()  # what allows both
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()
    page.get_by_label("The French Revolution").check()
    page.get_by_role("button", name="Add selected").click()
    (item,) = returned_items(receiver, page)
    assert item["custom"]["attribution"] == ("The French Revolution by Marie Historienne, "
                                             "https://example.org/french-revolution, licensed CC BY-SA 4.0")
    assert item["custom"]["license"] == "CC-BY-SA-4.0"
