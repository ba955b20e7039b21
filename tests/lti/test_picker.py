"""The picker's tray, favourites, recently used, preview, facets and assignment settings."""

from __future__ import annotations

import html
import re
from typing import Any

import anyio.to_thread
import httpx
import pytest

from marketplace.catalog.search import CatalogIndex
from marketplace.lti import picks
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
    # The first screen: recently used, then favourites, then the rest of the catalog, each resource once.
    recent = again.text.index('id="section-recent">Recently used')
    favourites = again.text.index('id="section-favourites">Your favourites')
    newest = again.text.index('id="section-newest">New in the catalog')
    assert recent < favourites < newest
    assert 'for="pick-recent-plant-cells"' in again.text and 'for="pick-favourites-leaf-image"' in again.text
    assert 'pick-newest-plant-cells"' not in again.text and 'pick-newest-leaf-image"' not in again.text
    lti.peer.user_id = "another-teacher"
    other = open_picker(lti, receiver, "editor_button")
    assert "section-favourites" not in other.text and "section-recent" not in other.text
    # Words, a filter or an explicit sort ask for a list of results instead.
    searched = lti.browser.get(lti.tool_url + "/lti/picker/results", params={"q": "leaf"},
                               headers={"X-Launch-Token": token_of(again), "HX-Request": "true"})
    assert "section-recent" not in searched.text and 'for="pick-leaf-image"' in searched.text
    unstar = post(lti, again, "/lti/picker/favourite", {"resource": "leaf-image", "favourite": "false"})
    assert 'aria-pressed="false"' in unstar.text


def test_the_first_screen_counts_without_building_hits(extras: LtiEnvironment, receiver: DeepLinkReceiver,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing asked yet: the picker shows its sections, the catalog's total and the facets; the search behind
    them builds no result cards it would not show. Words ask for cards again."""
    built: list[int] = []
    hit = CatalogIndex._hit

    def counted(self: CatalogIndex, *args: Any) -> Any:  # noqa: ANN401 - passes through
        built.append(1)
        return hit(self, *args)

    monkeypatch.setattr(CatalogIndex, "_hit", counted)
    page = open_picker(extras, receiver, "editor_button")
    assert "resources in the catalog. Search above" in page.text and 'id="section-newest"' in page.text
    assert re.search(r'<p class="summary">\d+ resources in the catalog', page.text)
    assert 'name="subject" value="biology"' in page.text and not built
    cleared = extras.browser.get(extras.tool_url + "/lti/picker/results", params={"q": ""},
                                 headers={"X-Launch-Token": token_of(page), "HX-Request": "true"})
    assert 'id="section-newest"' in cleared.text and 'hx-swap-oob="true"' in cleared.text and not built
    searched = extras.browser.get(extras.tool_url + "/lti/picker/results", params={"q": "leaf"},
                                  headers={"X-Launch-Token": token_of(page), "HX-Request": "true"})
    assert 'for="pick-leaf-image"' in searched.text and built
    built.clear()
    monkeypatch.setattr(picks, "first_screen", lambda *args, **kwargs: [])  # nothing to suggest (a stale list)
    fallback = extras.browser.get(extras.tool_url + "/lti/picker/results", params={"q": ""},
                                  headers={"X-Launch-Token": token_of(page), "HX-Request": "true"})
    assert 'id="section-newest"' not in fallback.text and 'class="pick"' in fallback.text and built


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


def test_module_quiz_settings_become_line_item_dates(extras: LtiEnvironment, receiver: DeepLinkReceiver) -> None:
    # Canvas creates the assignment of a module quiz on its server, with the dates (its assignment page
    # ignores them: tests/lti/test_canvas_display.py).
    page = open_picker(extras, receiver, "link_selection")
    for label in ("Available from", "Available until", "Due"):
        assert f">{label}</label>" in page.text
    (item,) = items_of(send_back(extras, choose(extras, page, ["leaf-quiz"],
                                                available_from="2026-12-01T08:00", due="2026-12-08T23:59")))
    assert item["lineItem"]["scoreMaximum"] == 2
    assert item["available"] == {"startDateTime": "2026-12-01T08:00:00"}
    assert item["submission"] == {"endDateTime": "2026-12-08T23:59:00"}
    bad = choose(extras, open_picker(extras, receiver, "link_selection"), ["leaf-quiz"], due="next week")
    assert bad.status_code == 400 and "not a date" in bad.text


def test_a_picker_request_goes_to_the_threadpool_once(extras: LtiEnvironment, receiver: DeepLinkReceiver,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The launch, the search and the personal lists of a picker request run in one hop to the threadpool
    (each hop costs two thread switches and a wake-up of the event loop), and so does each other picker
    request; the page itself takes two (the handoff, then the launch with its first results)."""
    hops: list[str] = []
    run_sync = anyio.to_thread.run_sync

    async def counted(func: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401 - passes through
        target = getattr(func, "func", func)
        if not target.__module__.startswith("marketplace.grading"):  # the app's grade worker polls on its own
            hops.append(target.__name__)
        return await run_sync(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    page = open_picker(extras, receiver, "editor_button")
    assert 'id="section-newest"' in page.text
    assert hops[-2:] == ["redeem_handoff", "_launch_and_picker_now"]
    hops.clear()
    searched = extras.browser.get(extras.tool_url + "/lti/picker/results", params={"q": "leaf"},
                                  headers={"X-Launch-Token": token_of(page), "HX-Request": "true"})
    assert 'for="pick-leaf-image"' in searched.text and hops == ["_results_now"]
    # Every other picker request too: the launch and its work in one hop.
    for path, data, name in (("/lti/picker/select", {"toggle": "leaf-image", "resource": "leaf-image"}, "_select_now"),
                             ("/lti/picker/favourite", {"resource": "leaf-image", "favourite": "true"}, "star_now")):
        hops.clear()
        assert post(extras, page, path, data).status_code == 200 and hops == [name]
    hops.clear()
    previewed = extras.browser.get(extras.tool_url + "/lti/picker/preview/leaf-image",
                                   headers={"X-Launch-Token": token_of(page), "HX-Request": "true"})
    assert previewed.status_code == 200 and hops == ["resource_now"]
    hops.clear()
    assert choose(extras, page, ["leaf-image"]).status_code == 200 and hops == ["_answer_now"]
