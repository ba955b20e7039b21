"""Homework submitted as files, over real HTTP: the picker's response, then Canvas's cookie-less fetch days later.

Canvas downloads a `file` item with its own servers only after the student presses Submit, so the signed link
must last (a week), stay bound to the content it was made for, and fail with a sentence rather than a broken
file. Notes and links go as small web pages when the assignment takes files only.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from marketplace.clock import utc_now
from marketplace.portfolio import signing
from marketplace.store.models import LaunchRow, PortfolioItemRow
from tests.lti.conftest import LtiEnvironment, extras, receiver  # noqa: F401 - fixtures used below
from tests.lti.dl_receiver import DeepLinkReceiver
from tests.lti.peer import DL_SETTINGS, INSTRUCTOR, LEARNER
from tests.lti.test_deep_linking import FIXTURE, choose, items_of, open_picker, send_back

HOMEWORK = FIXTURE["deep_linking_settings_by_placement"]["homework_submission"]
FILE_KEYS = {"type", "url", "title", "text", "mediaType", "expiresAt"}
Travel = Callable[[timedelta], None]


@pytest.fixture
def travel(monkeypatch: pytest.MonkeyPatch) -> Iterator[Travel]:
    """Move the clock the download route checks expiry against (the server runs in this process)."""
    start = utc_now()

    def to(offset: timedelta) -> None:
        monkeypatch.setattr(signing, "utc_now", lambda: start + offset)

    yield to


@pytest.fixture
def canvas() -> Iterator[httpx.Client]:
    """Canvas's servers: a client of their own, with no cookie or session of the student's browser."""
    with httpx.Client(timeout=20) as client:
        yield client


def open_homework(env: LtiEnvironment, platform: DeepLinkReceiver, **changes: Any) -> tuple[httpx.Response, str]:
    env.peer.user_id, env.peer.roles = "student-ada", [LEARNER]
    # PyLTI1p3 refuses a deep-linking launch whose accept_types lacks ltiResourceLink, so a file-only platform
    # is simulated by changing the stored claims of a launch that passed validation.
    launched = {**changes, "accept_types": ["file", "ltiResourceLink"]} if "accept_types" in changes else changes
    page = open_picker(env, platform, "homework_submission", {**HOMEWORK, **launched})
    assert page.status_code == 200, page.text[:500]
    if launched is not changes:
        with env.sessions() as session:
            row = session.scalars(select(LaunchRow).order_by(LaunchRow.created_at.desc())).first()
            assert row is not None
            row.claims = {**row.claims, DL_SETTINGS: {**row.claims[DL_SETTINGS], **changes}}
            session.commit()
    return page, html.unescape(re.search(r'name="launch_token" value="([^"]+)"', page.text)[1])  # type: ignore[index]


def add(env: LtiEnvironment, token: str, title: str, *, note: str = "", url: str = "",
        file: tuple[str, bytes] = ("", b"")) -> str:
    added = env.browser.post(env.tool_url + "/lti/portfolio/items",
                             headers={"X-Launch-Token": token, "HX-Request": "true"},
                             data={"title": title, "note": note, "url": url},
                             files={"file": (file[0], file[1], "application/octet-stream")})
    assert added.status_code == 200, added.text[:500]
    return str(re.search(r'name="portfolio_item" value="([^"]+)" id="[^"]+" form="picker-choose" checked',
                         added.text)[1])  # type: ignore[index]


def submit(env: LtiEnvironment, platform: DeepLinkReceiver, page: httpx.Response, item_id: str,
           **fields: str) -> dict[str, Any]:
    (item,) = items_of(send_back(env, choose(env, page, [], portfolio_item=item_id, **fields)))
    assert platform.problems == []
    return item


def check_file_item(item: dict[str, Any], name: str, media_type: str, signed_at: datetime) -> None:
    """The exact shape Canvas's homework page uses: the name in `text` (and title), a week until `expiresAt`."""
    assert set(item) == FILE_KEYS, item
    assert item["type"] == "file" and item["title"] == item["text"] == name and item["mediaType"] == media_type
    expires = int(parse_qs(urlsplit(item["url"]).query)["expires"][0])
    assert item["expiresAt"] == datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    week = signed_at.timestamp() + 7 * 24 * 3600
    assert week - 5 <= expires <= week + 60


def test_canvas_fetches_a_submitted_file_days_later(extras: LtiEnvironment, receiver: DeepLinkReceiver,  # noqa: F811
                                                    travel: Travel, canvas: httpx.Client) -> None:
    page, token = open_homework(extras, receiver)
    content = "Photosynthèse : lumière, eau, CO₂.\n".encode()
    item_id = add(extras, token, "Essay", file=("Résumé de lecture.txt", content))
    signed_at = utc_now()
    item = submit(extras, receiver, page, item_id)
    check_file_item(item, "Résumé de lecture.txt", "text/plain", signed_at)

    travel(timedelta(days=6, hours=23))  # the student pressed Submit almost a week later
    fetched = canvas.get(item["url"])
    assert fetched.status_code == 200 and fetched.content == content
    assert fetched.headers["content-type"].startswith("text/plain")
    assert fetched.headers["content-disposition"] == (
        "attachment; filename=\"Resume de lecture.txt\"; "
        "filename*=UTF-8''R%C3%A9sum%C3%A9%20de%20lecture.txt")
    assert "no-store" in fetched.headers["cache-control"]

    travel(timedelta(days=7, seconds=61))
    late = canvas.get(item["url"])
    expires = datetime.fromisoformat(item["expiresAt"].replace("Z", "+00:00"))
    assert late.status_code == 410 and late.headers["content-type"].startswith("text/plain")
    assert late.headers["cache-control"] == "no-store"
    assert late.text == (f"This download link expired on {expires.day} {expires:%B %Y at %H:%M} UTC. Links to "
                         "submitted work last 7 days. To hand the work in, the student should submit it again from "
                         "the course, which makes a fresh link; a teacher can open the submission again from the "
                         "course.\n")
    forged = canvas.get(item["url"].replace("signature=", "signature=0"))
    assert forged.status_code == 403 and forged.text.startswith("This download link is not valid")
    assert forged.headers["cache-control"] == "no-store" and "Traceback" not in forged.text


@pytest.mark.parametrize("kind", ["note", "link"])
def test_a_note_or_link_goes_as_a_web_page_file(extras: LtiEnvironment, receiver: DeepLinkReceiver,  # noqa: F811
                                                canvas: httpx.Client, travel: Travel, kind: str) -> None:
    page, token = open_homework(extras, receiver)
    if kind == "note":
        item_id = add(extras, token, "Field <notes>/day 1", note="Saw <script>alert(1)</script> herons.\n\nThe end.")
    else:
        item_id = add(extras, token, "Field <notes>/day 1", url="https://example.org/trip?a=1&b=2")
    partial = extras.browser.get(extras.tool_url + "/lti/portfolio",
                                 headers={"X-Launch-Token": token, "HX-Request": "true"}).text
    # Canvas homework: both ways, the file first and chosen.
    radios = re.findall(r'<input type="radio" name="portfolio_as" value="(\w+)" id="portfolio-as-\1" '
                        r'form="picker-choose" aria-describedby="portfolio-as-help"( checked)?>', partial)
    assert radios == [("file", " checked"), ("link", "")]
    assert "<legend>How to submit a note or a link</legend>" in partial
    assert '<label for="portfolio-as-file">As a web page</label>' in partial
    assert '<label for="portfolio-as-link">As a link to the tool</label>' in partial

    signed_at = utc_now()
    item = submit(extras, receiver, page, item_id, portfolio_as="file")
    check_file_item(item, "Field _notes_day 1.html", "text/html", signed_at)
    travel(timedelta(days=3))
    fetched = canvas.get(item["url"])
    assert fetched.status_code == 200, fetched.text
    assert fetched.headers["content-type"] == "text/html; charset=utf-8"
    assert fetched.headers["content-disposition"] == 'attachment; filename="Field _notes_day 1.html"'
    assert fetched.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in fetched.headers["content-security-policy"]
    body = fetched.content.decode("utf-8")
    assert "<h1>Field &lt;notes&gt;/day 1</h1>" in body and "<script" not in body and " src=" not in body
    if kind == "note":
        assert "<p>Saw &lt;script&gt;alert(1)&lt;/script&gt; herons.</p>\n<p>The end.</p>" in body
    else:
        assert '<a href="https://example.org/trip?a=1&amp;b=2" rel="noopener noreferrer">' in body

    # Edited after submitting: the old link no longer serves what the student has since changed.
    with extras.sessions() as session:
        row = session.get(PortfolioItemRow, item_id)
        assert row is not None
        if kind == "note":
            row.note = "Rewritten later."
        else:
            row.url = "https://example.org/elsewhere"
        session.commit()
    changed = canvas.get(item["url"])
    assert changed.status_code == 403 and "has changed" in changed.text
    assert changed.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(("changes", "offered", "default_type"), [
    ({"accept_types": ["file"]}, ["file"], "file"),
    ({"accept_types": ["ltiResourceLink"]}, ["link"], "ltiResourceLink"),
    ({"accept_media_types": "image/*"}, ["link"], "ltiResourceLink"),  # the page is text/html
])
def test_only_what_the_assignment_takes_is_offered(extras: LtiEnvironment,  # noqa: F811
                                                   receiver: DeepLinkReceiver, changes: dict[str, Any],  # noqa: F811
                                                   offered: list[str], default_type: str) -> None:
    page, token = open_homework(extras, receiver, **changes)
    item_id = add(extras, token, "Reflection", note="Leaves breathe.")
    partial = extras.browser.get(extras.tool_url + "/lti/portfolio",
                                 headers={"X-Launch-Token": token, "HX-Request": "true"}).text
    assert re.findall(r'name="portfolio_as" value="(\w+)"', partial) == offered
    first = offered[0]
    assert (f'name="portfolio_as" value="{first}" id="portfolio-as-{first}" form="picker-choose" '
            'aria-describedby="portfolio-as-help" checked') in partial
    # Without the field (an older page), a note goes the only way the assignment takes.
    assert submit(extras, receiver, page, item_id)["type"] == default_type


def test_the_choice_is_checked(extras: LtiEnvironment, receiver: DeepLinkReceiver) -> None:  # noqa: F811
    page, token = open_homework(extras, receiver, accept_media_types="image/*")
    item_id = add(extras, token, "Reflection", note="Leaves breathe.")
    unknown = choose(extras, page, [], portfolio_item=item_id, portfolio_as="pdf")
    assert unknown.status_code == 400
    assert "Choose how to submit the item: as a web page or as a link to the tool." in html.unescape(
        unknown.text) and "Traceback" not in unknown.text
    media = choose(extras, page, [], portfolio_item=item_id, portfolio_as="file")
    assert media.status_code == 400
    assert "accepts only image/* files" in html.unescape(media.text)
    # Neither refusal used up the launch: the student can still submit it as a link.
    assert submit(extras, receiver, page, item_id, portfolio_as="link")["type"] == "ltiResourceLink"


def test_link_only_assignments_refuse_a_page_with_advice(extras: LtiEnvironment,  # noqa: F811
                                                         receiver: DeepLinkReceiver) -> None:  # noqa: F811
    page, token = open_homework(extras, receiver, accept_types=["ltiResourceLink"])
    item_id = add(extras, token, "Reflection", note="Leaves breathe.")
    refused = choose(extras, page, [], portfolio_item=item_id, portfolio_as="file")
    assert refused.status_code == 400
    assert "accepts only ltiResourceLink. Choose to submit it as a link to the tool instead." in html.unescape(
        refused.text)


def test_a_teachers_download_link_outlives_a_long_grading_session(extras: LtiEnvironment,  # noqa: F811
                                                                  receiver: DeepLinkReceiver,  # noqa: F811
                                                                  travel: Travel) -> None:
    """The sibling of the submission link: the download link on the submitted item's page, which a teacher
    opens in SpeedGrader and may click hours later, is signed by the same signer and lasts as long."""
    page, token = open_homework(extras, receiver)
    item_id = add(extras, token, "Chart", file=("chart.txt", b"plant,height\nfern,12\n"))
    item = submit(extras, receiver, page, item_id, portfolio_as="link")  # ignored for files: a file goes as one
    assert item["type"] == "file"
    with extras.sessions() as session:
        row = session.get(PortfolioItemRow, item_id)
        assert row is not None
        custom = {"portfolio_item_id": row.id}
    extras.peer.user_id, extras.peer.roles = "the-teacher", [INSTRUCTOR]
    extras.peer.message_type = "LtiResourceLinkRequest"
    extras.peer.extra_claims = {"https://purl.imsglobal.org/spec/lti/claim/custom": custom}
    opened = extras.launch()
    assert opened.status_code == 200, opened.text[:500]
    link = html.unescape(re.search(r'<a href="([^"]+/portfolio/files/[^"]+)">Download chart.txt', opened.text)[1])  # type: ignore[index]
    travel(timedelta(hours=3))  # two hours was the old life of every portfolio link
    assert extras.browser.get(link).content == b"plant,height\nfern,12\n"
    travel(timedelta(days=8))
    assert extras.browser.get(link).status_code == 410
