"""The picker inside an LMS frame (issue 12, points 5 to 7), in a real Chromium by accessible names.

Canvas opens the picker in a modal of about 800 x 600 px: results come first, the filters fold away, and the
selection with its button stays on screen; nothing is lost at 320 px wide or at 200% zoom.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Locator, Page, expect

from tests.lti.conftest import LtiEnvironment
from tests.lti.dl_receiver import DeepLinkReceiver
from tests.lti.test_browser_launch import TIMEOUT_MS, chromium
from tests.lti.test_picker_browser import open_picker, returned_items, search_for, shot

MODAL = {"width": 800, "height": 600}


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    with chromium(tmp_path / "profile", block_third_party_cookies=False) as context:
        found = context.pages[0] if context.pages else context.new_page()
        found.set_default_timeout(TIMEOUT_MS)
        found.set_viewport_size(MODAL)
        yield found


def in_viewport(page: Page, locator: Locator) -> bool:
    """Whether the element is wholly on the first screen, without scrolling, and not covered by anything."""
    box = locator.bounding_box()
    assert box is not None
    viewport = page.viewport_size
    assert viewport is not None
    inside = (box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= viewport["width"] + 1
              and box["y"] + box["height"] <= viewport["height"] + 1)
    if not inside:
        return False
    on_top: bool = locator.evaluate(
        """element => { const r = element.getBoundingClientRect();
            const top = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
            const labels = element.labels ? [...element.labels] : [];
            return top === element || element.contains(top) || labels.some(l => l.contains(top)); }""")
    return on_top


def no_sideways_scrolling(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


def test_results_come_first_in_an_800_by_600_modal(extras: LtiEnvironment, receiver: DeepLinkReceiver,
                                                   page: Page) -> None:
    open_picker(extras, receiver, page, "editor_button")
    search_for(page, "leaf")
    first = page.locator("#picker-results .pick input[name=resource]").first
    expect(first).to_be_visible()
    assert in_viewport(page, page.get_by_label("Search"))
    assert in_viewport(page, first), "the first result starts below the fold"
    filters = page.locator("#picker-filters")
    assert filters.evaluate("element => element.open") is False  # folded at this width
    expect(page.get_by_label("Biology (5)")).to_be_hidden()
    assert in_viewport(page, page.get_by_role("button", name="Add selected"))
    assert in_viewport(page, page.get_by_role("heading", name="Selected (0)"))
    page.get_by_label("Leaf image resource").check()
    expect(page.get_by_role("heading", name="Selected (1)")).to_be_visible()
    assert in_viewport(page, page.get_by_role("button", name="Remove Leaf image resource"))
    # The filters unfold on demand and say how many are on.
    page.get_by_text("Filters", exact=True).click()
    page.get_by_label("Image (1)").check()
    expect(page.locator("#picker-results")).to_contain_text("1 resource")
    expect(page.locator("#picker-filters summary")).to_contain_text("(1 on)")
    assert filters.evaluate("element => element.open") is True  # still open after the results changed
    shot(page, "picker-800x600")
    # Scrolled to the end, the tray and its button are still on screen.
    page.get_by_label("Image (1)").uncheck()
    page.get_by_label("Search").fill("")
    page.mouse.wheel(0, 5000)
    assert in_viewport(page, page.get_by_role("button", name="Add selected"))
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()
    page.get_by_role("button", name="Add selected").click()
    (item,) = returned_items(receiver, page)
    assert item["type"] == "html" and "<figure><img" in item["html"]  # the picture, captioned with its credit


def test_filters_are_open_on_wide_screens(extras: LtiEnvironment, receiver: DeepLinkReceiver, page: Page) -> None:
    page.set_viewport_size({"width": 1280, "height": 800})
    open_picker(extras, receiver, page, "link_selection")
    expect(page.get_by_label("Biology (7)")).to_be_visible()


@pytest.mark.parametrize("viewport", [{"width": 320, "height": 640}, {"width": 400, "height": 300}],
                         ids=["320px", "200-percent-zoom"])
def test_nothing_is_lost_when_narrow_or_zoomed(extras: LtiEnvironment, receiver: DeepLinkReceiver, page: Page,
                                               viewport: dict[str, int]) -> None:
    page.set_viewport_size(viewport)  # 200% zoom of the 800 x 600 modal is a 400 x 300 CSS viewport
    open_picker(extras, receiver, page, "assignment_selection")
    assert no_sideways_scrolling(page)
    search_for(page, "cells")
    choice = page.get_by_label("Plant cells under the microscope")
    choice.check()
    expect(page.get_by_role("heading", name="Selected (1)")).to_be_visible()
    page.get_by_label("Points").fill("7")
    page.get_by_text("Filters", exact=True).click()
    page.get_by_label("Biology (1)").check()
    expect(page.locator("#picker-filters summary")).to_contain_text("(1 on)")
    assert no_sideways_scrolling(page)
    assert in_viewport(page, page.get_by_role("button", name="Add selected"))
    shot(page, f"picker-{viewport['width']}x{viewport['height']}")
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()
    page.get_by_role("button", name="Add selected").click()
    (item,) = returned_items(receiver, page)
    assert item["lineItem"]["scoreMaximum"] == 7.0


def test_the_first_screen_offers_what_a_teacher_wants_next(extras: LtiEnvironment, receiver: DeepLinkReceiver,
                                                           page: Page) -> None:
    open_picker(extras, receiver, page, "link_selection")
    search_for(page, "revolution")
    page.get_by_role("button", name="Favourite: The French Revolution").click()
    search_for(page, "quiz")
    page.get_by_label("Leaf quiz resource").check()
    page.get_by_role("button", name="Add selected").click()
    returned_items(receiver, page)

    open_picker(extras, receiver, page, "link_selection")
    headings = page.locator("#picker-results h2")
    expect(headings).to_have_text(["Recently used", "Your favourites", "New in the catalog"])
    recent = page.get_by_role("region", name="Recently used")
    expect(recent.get_by_label("Leaf quiz resource")).to_be_visible()
    expect(page.get_by_role("region", name="Your favourites").get_by_label("The French Revolution")).to_be_visible()
    new = page.get_by_role("region", name="New in the catalog")
    expect(new.locator(".pick")).not_to_have_count(0)
    expect(new.get_by_label("Leaf quiz resource")).to_have_count(0)  # each resource once
    assert in_viewport(page, recent.get_by_label("Leaf quiz resource"))
    shot(page, "picker-first-screen")
