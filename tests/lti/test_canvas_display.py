"""What a real Canvas shows of our items (issue 12, points 1 and 2), by Canvas's own rules.

The rules live in tests/fixtures/canvas-content-items.json and tests/lti/canvas_rules.py applies them; the
receiver also refuses, on every round trip, an item Canvas would show wrongly.
"""

from __future__ import annotations

import re

import pytest

from marketplace.catalog.sync import load_content, sync_index
from marketplace.lti.deep_linking import PRESERVE_ASSIGNMENT_NAME
from marketplace.web.services import services
from tests.lti.canvas_rules import assignment_page, editor_insert, module_assignment_dates
from tests.lti.conftest import LtiEnvironment
from tests.lti.dl_receiver import DeepLinkReceiver
from tests.lti.test_deep_linking import choose, items_of, open_picker, send_back

RESOURCE = '''id = "{id}"
title = "{title}"
description = "{description}"
subject = "biology"
grade_levels = ["6-8"]
type = "{type}"
language = "en"
keywords = ["leaf"]
thumbnail = "thumbnails/biology.svg"
[author]
name = "Editors"
[license]
id = "CC-BY-4.0"
attribution = "{attribution}"
[payload]
{payload}
'''
LONG = "A long description that would make a very poor link text in the middle of a course page paragraph."


@pytest.fixture
def display(extras: LtiEnvironment) -> LtiEnvironment:
    """The launch catalog plus an embeddable page, a huge picture and a snippet whose credit names its licence."""
    folder = extras.settings.content_dir / "resources" / "biology"
    resources = {
        "leaf-atlas": ("link", "Leaf atlas", 'url = "https://atlas.example/leaves"\nembeddable = true'),
        "giant-leaf": ("image", "Giant leaf photograph",
                       'url = "https://upload.example/giant.jpg"\nwidth = 3000\nheight = 2000\nalt = "A leaf"'),
        "credited-snippet": ("html", "Credited snippet", 'html = "<p>Veins carry water.</p>"'),
    }
    for resource_id, (kind, title, payload) in resources.items():
        attribution = (f"{title}, Editors, LTI Marketplace, licensed CC BY 4.0" if kind == "html"
                       else f"{title} by the Editors, LTI Marketplace, CC BY 4.0")
        (folder / f"{resource_id}.toml").write_text(RESOURCE.format(
            id=resource_id, title=title, description=LONG, type=kind, attribution=attribution, payload=payload),
            encoding="utf-8")
    with extras.sessions() as session:
        load_content(session, extras.settings.content_dir)
        session.commit()
        sync_index(session, extras.settings.index_dir, workers=1)
    services(extras.app).catalog.refresh()
    return extras


def test_editor_links_read_as_their_titles(display: LtiEnvironment, receiver: DeepLinkReceiver) -> None:
    page = open_picker(display, receiver, "editor_button")
    ids = ["photosynthesis-basics", "plant-cells", "french-revolution", "leaf-reading"]
    items = items_of(send_back(display, choose(display, page, ids)))
    inserted = [editor_insert(item) for item in items]
    links = [element for element in inserted if element.element == "a"]
    assert [element.body for element in links] == [
        "Photosynthesis basics", "Plant cells under the microscope", "The French Revolution"]
    assert all("thumbnail" not in item and "text" not in item for item in items)
    # The reading is embedded: a frame of a sensible size, launched by Canvas.
    assert inserted[3].element == "iframe" and inserted[3].width == 800
    assert not receiver.problems


def test_an_embeddable_link_is_a_frame_with_its_source(display: LtiEnvironment, receiver: DeepLinkReceiver) -> None:
    page = open_picker(display, receiver, "editor_button")
    (item,) = items_of(send_back(display, choose(display, page, ["leaf-atlas"])))
    assert item["iframe"]["src"] == "https://atlas.example/leaves"
    element = editor_insert(item)
    assert (element.element, element.src) == ("iframe", "https://atlas.example/leaves")
    assert not receiver.problems


def test_pictures_and_frames_are_capped_with_their_aspect(display: LtiEnvironment,
                                                           receiver: DeepLinkReceiver) -> None:
    page = open_picker(display, receiver, "editor_button")
    (image,) = items_of(send_back(display, choose(display, page, ["giant-leaf"])))
    element = editor_insert(image)  # a figure: the picture with its credit as the caption
    assert element.element == "html" and element.html is not None
    assert '<img src="https://upload.example/giant.jpg" alt="A leaf" width="1200" height="800">' in element.html
    assert element.html.count("Giant leaf photograph by the Editors, LTI Marketplace, CC BY 4.0") == 1
    page = open_picker(display, receiver, "link_selection")
    (framed,) = items_of(send_back(display, choose(display, page, ["giant-leaf"])))
    assert (framed["iframe"]["width"], framed["iframe"]["height"]) == (1200, 800)
    assert not receiver.problems


def test_the_credit_line_appears_once(display: LtiEnvironment, receiver: DeepLinkReceiver) -> None:
    page = open_picker(display, receiver, "editor_button")
    snippet, plain = items_of(send_back(display, choose(display, page, ["credited-snippet", "embed-snippet"])))
    shown = editor_insert(snippet).html or ""
    assert shown.count("CC BY 4.0") == 1 and "Editors, LTI Marketplace, licensed CC BY 4.0" in shown
    assert "text" not in snippet  # a platform showing `text` too would print the credit twice
    assert (editor_insert(plain).html or "").count("by the Editors, LTI Marketplace (CC BY 4.0)") == 1


def test_the_assignment_page_keeps_the_teachers_name_and_description(display: LtiEnvironment,
                                                                     receiver: DeepLinkReceiver) -> None:
    page = open_picker(display, receiver, "assignment_selection")
    for label in ("Available from", "Available until", "Due"):  # Canvas's assignment page ignores dates
        assert f">{label}</label>" not in page.text
    assert "Use the resource's description as the assignment description" in page.text
    items = items_of(send_back(display, choose(display, page, ["plant-cells"], points="10")))
    assert items[0][PRESERVE_ASSIGNMENT_NAME] is True and "text" not in items[0]
    form = assignment_page(items, "Week 3: cells", "Read chapter 3 first.")
    assert (form.name, form.description, form.points) == ("Week 3: cells", "Read chapter 3 first.", 10.0)
    new = assignment_page(items, "", "")
    assert new.name == "Plant cells under the microscope"  # a new assignment is named after the resource

    page = open_picker(display, receiver, "assignment_selection")
    items = items_of(send_back(display, choose(display, page, ["plant-cells"], points="10", use_description="yes",
                                               due="2026-12-08T23:59")))
    assert items[0]["text"].startswith("A look at chloroplasts")
    assert "submission" not in items[0] and "available" not in items[0]  # never sent where they do nothing
    assert assignment_page(items, "Week 3", "").description.startswith("A look at chloroplasts")
    assert not receiver.problems


def test_module_quizzes_get_dates_canvas_uses(display: LtiEnvironment, receiver: DeepLinkReceiver) -> None:
    page = open_picker(display, receiver, "link_selection")
    for label in ("Available from", "Available until", "Due"):
        assert f">{label}</label>" in page.text
    items = items_of(send_back(display, choose(display, page, ["leaf-quiz", "plant-cells"],
                                               available_from="2026-12-01T08:00", due="2026-12-08T23:59")))
    assert module_assignment_dates(items[0]) == {"unlock_at": "2026-12-01T08:00:00", "due_at": "2026-12-08T23:59:00"}
    assert module_assignment_dates(items[1]) == {} and "available" not in items[1]
    assert all("text" not in item for item in items)


def test_moodle_is_not_offered_dates_it_ignores(display: LtiEnvironment, receiver: DeepLinkReceiver) -> None:
    display.peer.extra_claims = {}
    settings = {"accept_types": ["ltiResourceLink"], "accept_presentation_document_targets": ["iframe", "window"],
                "accept_multiple": True, "accept_lineitem": True}
    moodle = {"guid": "moodle.example", "name": "Moodle", "product_family_code": "moodle", "version": "4.5"}
    page = open_picker(display, receiver, "generic", settings)
    assert ">Due</label>" in page.text  # a platform that follows the spec is offered the spec's dates
    claim = dict(display.peer.extra_claims)
    claim["https://purl.imsglobal.org/spec/lti/claim/tool_platform"] = moodle
    display.peer.extra_claims = claim
    page = display.launch()
    assert page.status_code == 200 and ">Due</label>" not in page.text
    (item,) = items_of(send_back(display, choose(display, page, ["leaf-quiz"], due="2026-12-08T23:59")))
    assert "submission" not in item and item["lineItem"]["scoreMaximum"] == 2


def test_the_loader_refuses_a_snippet_with_its_own_credit(display: LtiEnvironment) -> None:
    path = display.settings.content_dir / "resources" / "biology" / "credited-snippet.toml"
    path.write_text(path.read_text().replace(
        "<p>Veins carry water.</p>", "<p>Veins carry water.</p><p><small>Editors, CC BY 4.0.</small></p>"))
    with display.sessions() as session:
        report = load_content(session, display.settings.content_dir)
    problems = " ".join(str(problem) for problem in report.problems)
    assert re.search(r"credited-snippet\.toml:\d+: .*own credit line", problems), problems
