"""Deep linking round trips per placement, with the platform side verifying our response strictly."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import select

from marketplace.catalog.sync import load_content, sync_index
from marketplace.store.models import PlatformRow
from marketplace.store.registrations import add_deployment
from marketplace.web.services import services
from tests.lti.conftest import LtiEnvironment
from tests.lti.dl_receiver import DeepLinkReceiver, Expectation
from tests.lti.peer import DEPLOYMENT_ID, DL_SETTINGS, INSTRUCTOR, LEARNER

FIXTURE = json.loads((Path(__file__).parent.parent / "fixtures" / "canvas-deep-linking.json").read_text())
PLACEMENT = "https://www.instructure.com/placement"



def open_picker(lti: LtiEnvironment, receiver: DeepLinkReceiver, placement: str,
                settings: dict[str, Any] | None = None) -> httpx.Response:
    claim = dict(settings or FIXTURE["deep_linking_settings_by_placement"][placement])
    claim["deep_link_return_url"] = receiver.return_url
    lti.peer.message_type = "LtiDeepLinkingRequest"
    lti.peer.extra_claims = {DL_SETTINGS: claim, **({PLACEMENT: placement} if placement != "generic" else {})}
    receiver.expectation = Expectation(placement, list(claim.get("accept_types", [])),
                                       claim.get("accept_multiple", True) is not False,
                                       lti.peer.deployment_id, claim.get("data"), "data" in claim)
    return lti.launch()


def choose(lti: LtiEnvironment, page: httpx.Response, ids: list[str], **fields: str) -> httpx.Response:
    token = re.search(r'name="launch_token" value="([^"]+)"', page.text)
    assert token, page.text[:500]
    data: list[tuple[str, str]] = [("launch_token", html.unescape(token.group(1)))]
    data += [("resource", resource_id) for resource_id in ids] + list(fields.items())
    return lti.browser.post(lti.tool_url + "/lti/deep-linking/respond", content=urlencode(data),
                            headers={"Content-Type": "application/x-www-form-urlencoded"})


def send_back(lti: LtiEnvironment, response_page: httpx.Response) -> httpx.Response:
    """What the auto-submitting page does in a browser: post the JWT to the return URL."""
    assert response_page.status_code == 200, response_page.text[:500]
    action = html.unescape(re.search(r'<form id="deep-link-return"[^>]*action="([^"]+)"', response_page.text)[1])
    token = html.unescape(re.search(r'name="JWT" value="([^"]+)"', response_page.text)[1])
    return lti.browser.post(action, data={"JWT": token})


def items_of(result: httpx.Response) -> list[dict[str, Any]]:
    assert result.status_code == 200, result.text
    items: list[dict[str, Any]] = result.json()["content_items"]
    return items


def test_the_picker_page_has_the_contract_names(lti: LtiEnvironment, receiver: DeepLinkReceiver) -> None:
    page = open_picker(lti, receiver, "editor_button")
    assert page.status_code == 200, page.text[:400]
    assert re.search(r'<label for="q"[^>]*>Search</label>', page.text)
    # Without a query the first screen lists the catalog's newest resources (none used or starred yet).
    assert re.search(r'<input type="checkbox" name="resource" value="leaf-quiz" id="pick-newest-leaf-quiz"',
                     page.text)
    assert '<label for="pick-newest-leaf-quiz">Leaf quiz resource</label>' in page.text
    assert ">Add selected</button>" in page.text
    partial = lti.browser.get(lti.tool_url + "/lti/picker/results", params={"q": "leaf"},
                              headers={"X-Launch-Token": re.search(r'"X-Launch-Token": "([^"]+)"',
                                                                   html.unescape(page.text))[1],
                                       "HX-Request": "true"})
    assert partial.status_code == 200 and "Leaf image resource" in partial.text and "<html" not in partial.text


def test_editor_button_round_trip(lti: LtiEnvironment, receiver: DeepLinkReceiver) -> None:
    page = open_picker(lti, receiver, "editor_button")
    ids = ["embed-snippet", "leaf-image", "leaf-worksheet", "leaf-quiz", "french-revolution"]
    items = items_of(send_back(lti, choose(lti, page, ids)))
    assert [item["type"] for item in items] == ["html", "html", "link", "ltiResourceLink", "link"]
    html_item, image, worksheet, quiz, page_link = items
    # The credit goes inside the fragment: Canvas drops an html item's text.
    assert "sugar" in html_item["html"] and "by the Editors, LTI Marketplace (CC BY 4.0)" in html_item["html"]
    # A picture is a copy of the work: it goes as a figure whose caption is its credit.
    assert re.search(r'<figure><img src="https://upload.example/leaf.png" alt="A green leaf" width="640" '
                     r'height="480"[^>]*><figcaption><small>Leaf image resource by the Editors, LTI Marketplace '
                     r'\(CC BY 4.0\)</small></figcaption></figure>', image["html"]), image["html"]
    assert "thumbnail" not in image and "text" not in image
    assert worksheet["url"].endswith("/content/files/leaf.pdf")  # a link to the file, never a file item
    assert quiz["custom"] == {"resource_id": "leaf-quiz", "license": "CC-BY-4.0",
                              "license_url": "https://creativecommons.org/licenses/by/4.0/",
                              "attribution": "Leaf quiz resource by the Editors, LTI Marketplace (CC BY 4.0)"}
    assert "iframe" in quiz and "lineItem" not in quiz
    assert page_link["url"] == "https://example.org/french-revolution"
    assert not receiver.problems


def test_link_selection_round_trip(lti: LtiEnvironment, receiver: DeepLinkReceiver) -> None:
    page = open_picker(lti, receiver, "link_selection")
    items = items_of(send_back(lti, choose(lti, page, ["leaf-quiz", "plant-cells"])))
    assert [item["type"] for item in items] == ["ltiResourceLink", "ltiResourceLink"]
    assert items[0]["lineItem"]["scoreMaximum"] == 2 and "lineItem" not in items[1]
    assert items[1]["custom"]["resource_id"] == "plant-cells"
    # The full credit travels with the item, whatever the platform shows of it.
    assert items[1]["custom"]["attribution"] == ("Plant cells under the microscope by Ada Author, "
                                                 "https://example.org/plant-cells, licensed CC BY 4.0")
    assert items[1]["custom"]["license"] == "CC-BY-4.0"


def test_assignment_selection_round_trip(lti: LtiEnvironment, receiver: DeepLinkReceiver) -> None:
    page = open_picker(lti, receiver, "assignment_selection")
    assert 'type="radio"' in page.text and '<label for="points">Points</label>' in page.text
    (item,) = items_of(send_back(lti, choose(lti, page, ["plant-cells"], points="15")))
    assert item["lineItem"] == {"scoreMaximum": 15.0, "label": "Plant cells under the microscope",
                                "resourceId": "plant-cells", "tag": "lti-marketplace"}
    assert "text" not in item  # only when the teacher asks: Canvas replaces the assignment's description with it


def test_a_graded_quiz_carries_its_attempts_and_grade_policy(lti: LtiEnvironment,
                                                               receiver: DeepLinkReceiver) -> None:
    page = open_picker(lti, receiver, "assignment_selection")
    assert '<label for="attempts_allowed">Attempts allowed</label>' in page.text
    assert choose(lti, page, ["leaf-quiz"], attempts_allowed="0").status_code == 400
    assert choose(lti, page, ["leaf-quiz"], grade_policy="worst").status_code == 400
    (item,) = items_of(send_back(lti, choose(lti, page, ["leaf-quiz"], attempts_allowed="3", grade_policy="latest")))
    assert {key: item["custom"][key] for key in ("resource_id", "attempts_allowed", "grade_policy")} == {
        "resource_id": "leaf-quiz", "attempts_allowed": "3", "grade_policy": "latest"}
    assert item["lineItem"]["scoreMaximum"] == 2
    page = open_picker(lti, receiver, "link_selection")
    items = items_of(send_back(lti, choose(lti, page, ["leaf-quiz", "plant-cells"], attempts_allowed="2")))
    assert items[0]["custom"]["attempts_allowed"] == "2" and "attempts_allowed" not in items[1]["custom"]
    page = open_picker(lti, receiver, "editor_button")
    assert 'name="attempts_allowed"' not in page.text


def test_homework_submission_needs_a_learner(lti: LtiEnvironment, receiver: DeepLinkReceiver) -> None:
    page = open_picker(lti, receiver, "homework_submission")
    assert page.status_code == 403 and "Learner" in page.text
    lti.peer.roles = [LEARNER]
    page = open_picker(lti, receiver, "homework_submission")
    assert page.status_code == 200 and ">Submit selected</button>" in page.text
    (item,) = items_of(send_back(lti, choose(lti, page, ["leaf-worksheet"])))
    assert item["type"] == "file" and item["text"] == "leaf.pdf" and item["url"].endswith("leaf.pdf")


def test_learners_cannot_open_instructor_placements(lti: LtiEnvironment, receiver: DeepLinkReceiver) -> None:
    lti.peer.roles = [LEARNER]
    page = open_picker(lti, receiver, "link_selection")
    assert page.status_code == 403 and "instructor" in page.text


def test_generic_platform_gets_its_data_back_and_only_accepted_types(lti: LtiEnvironment,
                                                                      receiver: DeepLinkReceiver) -> None:
    settings = {"accept_types": ["link", "ltiResourceLink"], "accept_presentation_document_targets": ["window"],
                "accept_multiple": True, "data": "opaque-platform-data-123"}
    page = open_picker(lti, receiver, "generic", settings)
    items = items_of(send_back(lti, choose(lti, page, ["embed-snippet", "french-revolution"])))
    assert [item["type"] for item in items] == ["ltiResourceLink", "link"]
    assert items[0]["window"] == {"targetName": "_blank"} and "iframe" not in items[0]
    assert receiver.received[-1]["https://purl.imsglobal.org/spec/lti-dl/claim/data"] == "opaque-platform-data-123"


def test_one_launch_is_answered_once_and_bad_choices_get_sentences(lti: LtiEnvironment,
                                                                   receiver: DeepLinkReceiver) -> None:
    """Answered once: a second answer (its page never reached the platform, or a double click) sends the first
    answer's items again, signed afresh, and adds nothing chosen since; Canvas itself refuses a second post to
    the same return URL, so a platform that did get the first does not get it twice."""
    page = open_picker(lti, receiver, "assignment_selection")
    two = choose(lti, page, ["plant-cells", "leaf-quiz"])
    assert two.status_code == 400 and "one item only" in two.text
    bad_points = choose(lti, page, ["plant-cells"], points="lots")
    assert bad_points.status_code == 400 and "Points must be a number" in bad_points.text
    unknown = choose(lti, page, ["no-such-resource"])
    assert unknown.status_code == 400 and "no longer in the catalog" in unknown.text
    first = choose(lti, page, ["plant-cells"], points="10")
    assert first.status_code == 200
    again = choose(lti, page, ["leaf-quiz"], points="3")  # the first page was lost; the student clicks again
    assert again.status_code == 200
    [sent] = items_of(send_back(lti, again))
    assert sent["title"] == items_of(send_back(lti, first))[0]["title"] and sent["lineItem"]["scoreMaximum"] == 10


def test_homework_submission_of_a_portfolio_file(lti: LtiEnvironment, receiver: DeepLinkReceiver) -> None:
    lti.peer.roles = [LEARNER]
    page = open_picker(lti, receiver, "homework_submission")
    assert page.status_code == 200 and ">Add to portfolio</button>" in page.text
    token = html.unescape(re.search(r'name="launch_token" value="([^"]+)"', page.text)[1])
    added = lti.browser.post(lti.tool_url + "/lti/portfolio/items", headers={"X-Launch-Token": token,
                             "HX-Request": "true"}, data={"title": "My essay"},
                             files={"file": ("essay.txt", b"Leaves are green because of chlorophyll.\n", "text/plain")})
    assert added.status_code == 200, added.text[:300]
    item_id = re.search(r'name="portfolio_item" value="([^"]+)"', added.text)[1]
    (item,) = items_of(send_back(lti, choose(lti, page, [], portfolio_item=item_id)))
    assert item["type"] == "file" and item["text"] == "essay.txt" and item["title"] == "essay.txt"
    # Canvas's servers fetch the file with no cookie or session; the signed link is all they need.
    with httpx.Client() as canvas:
        fetched = canvas.get(item["url"])
        assert fetched.status_code == 200 and fetched.content.startswith(b"Leaves are green")
        assert canvas.get(item["url"].replace("signature=", "signature=0")).status_code == 403


def test_media_types_and_the_message_for_the_platform(lti: LtiEnvironment, receiver: DeepLinkReceiver) -> None:
    lti.peer.roles = [LEARNER]
    settings = dict(FIXTURE["deep_linking_settings_by_placement"]["homework_submission"])
    settings["accept_media_types"] = "image/*"
    page = open_picker(lti, receiver, "homework_submission", settings)
    # A PDF where only images are accepted goes as a resource link (its launch offers the download).
    (item,) = items_of(send_back(lti, choose(lti, page, ["leaf-worksheet"])))
    assert item["type"] == "ltiResourceLink" and item["custom"]["resource_id"] == "leaf-worksheet"
    assert receiver.received[-1]["https://purl.imsglobal.org/spec/lti-dl/claim/msg"] == (
        "Submitted 1 item from LTI Marketplace.")


def test_markup_in_resource_titles_and_the_editor_selection_prefill(lti: LtiEnvironment,
                                                                    receiver: DeepLinkReceiver) -> None:
    path = lti.settings.content_dir / "resources" / "biology" / "leaf-quiz.toml"
    # The credit line names the title, so it carries the markup too (and must be escaped as well).
    path.write_text(path.read_text().replace("Leaf quiz resource", "Leaf <script>alert(1)</script> quiz"))
    with lti.sessions() as session:
        load_content(session, lti.settings.content_dir)
        session.commit()
        sync_index(session, lti.settings.index_dir, workers=1)
    services(lti.app).catalog.refresh()
    claim = dict(FIXTURE["deep_linking_settings_by_placement"]["editor_button"])
    claim["deep_link_return_url"] = receiver.return_url
    lti.peer.message_type = "LtiDeepLinkingRequest"
    lti.peer.extra_claims = {DL_SETTINGS: claim, PLACEMENT: "editor_button",
                             "https://purl.imsglobal.org/spec/lti/claim/custom": {"selection": "leaf quiz"}}
    page = lti.launch()
    assert page.status_code == 200
    assert 'id="q" name="q" type="search" value="leaf quiz"' in page.text  # pre-filled from the editor
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    lti.peer.extra_claims["https://purl.imsglobal.org/spec/lti/claim/custom"] = {
        "selection": "$com.instructure.Editor.selection"}  # Canvas sends the variable unexpanded when empty
    assert 'type="search" value=""' in lti.launch().text


def test_a_submitted_note_opens_for_its_author_and_teachers_only(lti: LtiEnvironment,
                                                                 receiver: DeepLinkReceiver) -> None:
    lti.peer.roles = [LEARNER]
    page = open_picker(lti, receiver, "homework_submission")
    token = html.unescape(re.search(r'name="launch_token" value="([^"]+)"', page.text)[1])
    added = lti.browser.post(lti.tool_url + "/lti/portfolio/items", headers={"X-Launch-Token": token,
                             "HX-Request": "true"}, data={"title": "Reflection", "note": "Leaves <b>breathe</b>."},
                             files={"file": ("", b"")})
    assert added.status_code == 200, added.text[:300]
    item_id = re.search(r'name="portfolio_item" value="([^"]+)"', added.text)[1]
    (item,) = items_of(send_back(lti, choose(lti, page, [], portfolio_item=item_id)))
    assert item["type"] == "ltiResourceLink" and item["custom"] == {"portfolio_item_id": item_id}

    def open_as(sub: str, roles: list[str]) -> httpx.Response:
        lti.peer.user_id, lti.peer.roles = sub, roles
        lti.peer.message_type = "LtiResourceLinkRequest"
        lti.peer.extra_claims = {"https://purl.imsglobal.org/spec/lti/claim/custom": item["custom"]}
        return lti.launch()

    author = open_as("user-1", [LEARNER])
    assert author.status_code == 200 and "Leaves &lt;b&gt;breathe&lt;/b&gt;." in author.text
    assert open_as("the-teacher", [INSTRUCTOR]).status_code == 200
    stranger = open_as("another-student", [LEARNER])
    assert stranger.status_code == 404 and "cannot be shown here" in stranger.text
    # Issue 10, finding 8: a teacher of another course on the same platform cannot open it by its id,
    # nor a teacher of the same course id under another deployment.
    lti.peer.context_id = "course-2"
    other_course = open_as("other-teacher", [INSTRUCTOR])
    assert other_course.status_code == 404 and "Leaves" not in other_course.text
    lti.peer.context_id = "course-1"
    with lti.sessions() as session:
        platform = session.scalars(select(PlatformRow)).one()
        add_deployment(session, platform, "other-deployment")
        session.commit()
    lti.peer.deployment_id = "other-deployment"
    other_deployment = open_as("other-teacher", [INSTRUCTOR])
    assert other_deployment.status_code == 404 and "Leaves" not in other_deployment.text
    lti.peer.deployment_id = DEPLOYMENT_ID
    assert open_as("user-1", [LEARNER]).status_code == 200  # its author, still


@pytest.mark.parametrize(("return_url", "allowed"), [
    ("HTTPS://LMS.Example.EDU:443/courses/1/deep_linking_response", "https://lms.example.edu"),
    ("https://x;form-action *;@evil.example/return", None),
])
def test_the_response_page_may_post_only_to_a_valid_return_origin(lti: LtiEnvironment, receiver: DeepLinkReceiver,
                                                                  return_url: str, allowed: str | None) -> None:
    """Issue 10, sibling of finding 2: the return URL's origin goes into form-action only after the URL check."""
    claim = dict(FIXTURE["deep_linking_settings_by_placement"]["link_selection"])
    page = open_picker(lti, receiver, "link_selection", {**claim})
    lti.peer.extra_claims[DL_SETTINGS]["deep_link_return_url"] = return_url
    page = lti.launch()
    response = choose(lti, page, ["plant-cells"])
    assert response.status_code == 200
    form_action = response.headers["content-security-policy"].split("form-action", 1)[1].split(";")[0]
    assert "*" not in form_action and "evil" not in form_action
    assert (allowed in form_action) if allowed else form_action.strip().startswith("'self'")
