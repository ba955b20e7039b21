"""The picker's tray, favourites, recently used, preview, facets and assignment settings."""

from __future__ import annotations

import html
import re

import httpx

from tests.lti.conftest import LtiEnvironment
from tests.lti.dl_receiver import DeepLinkReceiver
from tests.lti.test_deep_linking import choose, items_of, open_picker, send_back


def token_of(page: httpx.Response) -> str:
    found = re.search(r'"X-Launch-Token": "([^"]+)"', html.unescape(page.text))
    assert found, page.text[:300]
    return found.group(1)


def post(lti: LtiEnvironment, page: httpx.Response, path: str, data: dict[str, str]) -> httpx.Response:
    return lti.browser.post(lti.tool_url + path, data=data,
                            headers={"X-Launch-Token": token_of(page), "HX-Request": "true"})


def test_the_tray_keeps_a_selection_across_searches(extras: LtiEnvironment, receiver: DeepLinkReceiver) -> None:
    lti = extras
    page = open_picker(lti, receiver, "link_selection")
    tray = post(lti, page, "/lti/picker/select", {"toggle": "leaf-quiz", "resource": "leaf-quiz"})
    assert tray.status_code == 200 and "Selected (1)" in tray.text and "Leaf quiz resource" in tray.text
    other = lti.browser.get(lti.tool_url + "/lti/picker/results", params={"q": "revolution"},
                            headers={"X-Launch-Token": token_of(page), "HX-Request": "true"})
    assert "The French Revolution" in other.text and "Leaf quiz resource" not in other.text
    tray = post(lti, page, "/lti/picker/select", {"toggle": "french-revolution", "resource": "french-revolution"})
    assert "Selected (2)" in tray.text
    tray = post(lti, page, "/lti/picker/select", {"toggle": "leaf-quiz"})  # unchecked: only the toggle is sent
    assert "Selected (1)" in tray.text and "Leaf quiz resource" not in tray.text
    post(lti, page, "/lti/picker/select", {"toggle": "plant-cells", "resource": "plant-cells"})
    items = items_of(send_back(lti, choose(lti, page, [])))  # nothing ticked on this page: the tray counts
    assert [item["custom"]["resource_id"] for item in items] == ["french-revolution", "plant-cells"]


def test_single_item_placements_keep_only_the_latest_choice(extras: LtiEnvironment,
                                                            receiver: DeepLinkReceiver) -> None:
    page = open_picker(extras, receiver, "assignment_selection")
    post(extras, page, "/lti/picker/select", {"toggle": "leaf-quiz", "resource": "leaf-quiz"})
    tray = post(extras, page, "/lti/picker/select", {"toggle": "plant-cells", "resource": "plant-cells"})
    assert "Selected (1)" in tray.text and "Plant cells" in tray.text


def test_favourites_and_recently_used_follow_the_instructor(extras: LtiEnvironment,
                                                            receiver: DeepLinkReceiver) -> None:
    lti = extras
    page = open_picker(lti, receiver, "editor_button")
    star = post(lti, page, "/lti/picker/favourite", {"resource": "leaf-image", "favourite": "true"})
    assert 'aria-pressed="true"' in star.text and "Favourite: Leaf image resource" in star.text
    items_of(send_back(lti, choose(lti, page, ["plant-cells"])))
    again = open_picker(lti, receiver, "editor_button")
    assert 'id="fav-heading">Favourites' in again.text and 'id="recent-heading">Recently used' in again.text
    side = again.text.split('aria-label="Your lists"')[1]
    assert "Leaf image resource" in side and "Plant cells under the microscope" in side
    lti.peer.user_id = "another-teacher"
    other = open_picker(lti, receiver, "editor_button")
    assert "fav-heading" not in other.text and "recent-heading" not in other.text
    unstar = post(lti, again, "/lti/picker/favourite", {"resource": "leaf-image", "favourite": "false"})
    assert 'aria-pressed="false"' in unstar.text


def test_preview_facets_and_escaping(extras: LtiEnvironment, receiver: DeepLinkReceiver) -> None:
    lti = extras
    page = open_picker(lti, receiver, "editor_button")
    assert "Subject" in page.text and 'name="subject" value="biology"' in page.text
    preview = lti.browser.get(lti.tool_url + "/lti/picker/preview/leaf-reading",
                              headers={"X-Launch-Token": token_of(page), "HX-Request": "true"})
    assert preview.status_code == 200 and "Why leaves are green" in preview.text
    filtered = lti.browser.get(lti.tool_url + "/lti/picker/results", params={"subject": "history"},
                               headers={"X-Launch-Token": token_of(page), "HX-Request": "true"})
    assert "1 resource" in filtered.text and "The French Revolution" in filtered.text
    attack = lti.browser.get(lti.tool_url + "/lti/picker/results", params={"q": '<script>alert("x")</script>'},
                             headers={"X-Launch-Token": token_of(page), "HX-Request": "true"})
    assert attack.status_code == 200 and "<script>alert" not in attack.text
    assert lti.browser.get(lti.tool_url + "/lti/picker/results").status_code == 401  # no launch token


def test_assignment_settings_become_line_item_dates(extras: LtiEnvironment, receiver: DeepLinkReceiver) -> None:
    page = open_picker(extras, receiver, "assignment_selection")
    for label in ("Points", "Available from", "Available until", "Due"):
        assert f">{label}</label>" in page.text
    (item,) = items_of(send_back(extras, choose(extras, page, ["plant-cells"], points="20",
                                                available_from="2026-12-01T08:00", due="2026-12-08T23:59")))
    assert item["lineItem"]["scoreMaximum"] == 20.0
    assert item["available"] == {"startDateTime": "2026-12-01T08:00:00"}
    assert item["submission"] == {"endDateTime": "2026-12-08T23:59:00"}
    bad = choose(extras, open_picker(extras, receiver, "assignment_selection"), ["plant-cells"], due="next week")
    assert bad.status_code == 400 and "not a date" in bad.text
