"""A real Chromium launches the tool inside a cross-site iframe with third-party cookies blocked.

The course page is served by the platform peer on `localhost`, the tool on `127.0.0.1`: different sites, so
the tool frame is third-party. Chromium's profile preference `profile.cookie_controls_mode = 1` ("block
third-party cookies", as set in chrome://settings/cookies) is written into a fresh profile before launch.
Without its state cookie the tool must confirm the launch through LTI platform storage: its pages post
`lti.put_data` / `lti.get_data` to the peer's `post_message_forwarding` frame, which relays them to the
course page (as Canvas does), and the launch page posts what it read back to `/lti/launch/confirm`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Frame, Page, Request, expect, sync_playwright
from sqlalchemy import select

from marketplace.store.models import LaunchRow, PlatformRow
from marketplace.web.services import services
from tests.conftest import PROJECT_DIR, skip_or_fail
from tests.lti.conftest import LtiEnvironment
from tests.lti.peer import FORWARDING_FRAME

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 # Tests talk only to loopback servers they started: no host name resolves (fixture pictures on
                 # made-up hosts fail at once instead of reaching out); localhost is the second site of cookie
                 # tests.
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"]
TIMEOUT_MS = 20_000
ARTIFACTS = PROJECT_DIR / "test-artifacts"
# Sets a cookie that only third-party-cookie blocking can refuse: SameSite=None (so no SameSite rule applies)
# and Secure (allowed on http://127.0.0.1, a potentially trustworthy origin), not Partitioned.
COOKIE_PROBE = """() => {
  document.cookie = "mkt-probe=1; SameSite=None; Secure; Path=/";
  return document.cookie.includes("mkt-probe=1");
}"""


@contextmanager
def chromium(profile: Path, *, block_third_party_cookies: bool = True) -> Iterator[BrowserContext]:
    """Headless Debian Chromium (never a downloaded one) on a fresh profile with the cookie setting given."""
    if not CHROMIUM.exists():
        skip_or_fail(f"Chromium not installed at {CHROMIUM}")
    (profile / "Default").mkdir(parents=True)
    preferences = {"profile": {"cookie_controls_mode": 1 if block_third_party_cookies else 0}}
    (profile / "Default" / "Preferences").write_text(json.dumps(preferences), encoding="utf-8")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield context
        finally:
            context.close()


def allow_framing_from(lti: LtiEnvironment, origin: str) -> None:
    """The course page lives on another origin than the issuer (as a Canvas school's domain does): register it."""
    with lti.sessions() as session:
        platform = session.scalars(select(PlatformRow).where(PlatformRow.issuer == lti.peer.issuer)).one()
        platform.frame_origins = [*platform.frame_origins, origin]
        session.commit()
    app: Any = lti.app
    services(app).frame_ancestors.invalidate()


def open_course(lti: LtiEnvironment, context: BrowserContext) -> tuple[Page, list[Request]]:
    """Load the peer's course page from `localhost` (the tool is on 127.0.0.1), recording every request."""
    course_origin = lti.peer.issuer.replace("://127.0.0.1:", "://localhost:")
    assert course_origin != lti.peer.issuer and lti.tool_url.startswith("http://127.0.0.1:")
    allow_framing_from(lti, course_origin)
    lti.peer.storage_target = FORWARDING_FRAME
    page = context.pages[0] if context.pages else context.new_page()
    requests: list[Request] = []
    page.on("request", lambda request: requests.append(request))
    page.goto(course_origin + "/course")
    return page, requests


def tool_frame(page: Page) -> Frame:
    handle = page.locator("iframe#tool").element_handle()
    frame = handle.content_frame() if handle else None
    assert frame is not None
    return frame


def to_tool(requests: list[Request], lti: LtiEnvironment, method: str, path: str) -> list[Request]:
    """The requests the browser made to this path of the tool (query string aside)."""
    return [request for request in requests
            if request.method == method and request.url.split("?")[0] == lti.tool_url + path]


def launch_rows(lti: LtiEnvironment) -> list[LaunchRow]:
    with lti.sessions() as session:
        return list(session.scalars(select(LaunchRow)))


def test_a_cross_site_launch_without_third_party_cookies_completes_through_platform_storage(
    lti: LtiEnvironment, tmp_path: Path
) -> None:
    with chromium(tmp_path / "profile") as context:
        page, requests = open_course(lti, context)
        tool = page.frame_locator("iframe#tool")
        expect(tool.get_by_role("heading", name="Welcome, Ada Teacher")).to_be_visible(timeout=TIMEOUT_MS)
        expect(tool.get_by_text("Biology 101")).to_be_visible()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "browser-launch.png"), full_page=True)

        # Third-party cookies really are blocked for the tool frame: the tool sent its state cookie at login,
        # the browser kept none of it, and a SameSite=None cookie set in the frame does not stick either.
        [login] = to_tool(requests, lti, "GET", "/lti/login")
        login_response = login.response()
        assert login_response is not None and "mkt-state-" in (login_response.header_value("set-cookie") or "")
        assert not [cookie for cookie in context.cookies(lti.tool_url) if cookie["name"].startswith("mkt-state-")]
        [launch] = to_tool(requests, lti, "POST", "/lti/launch")
        assert "mkt-state-" not in launch.all_headers().get("cookie", "")
        frame = tool_frame(page)
        # No cookie reaches this frame, so no handoff code either: the confirmation answers with the page.
        assert frame.url == lti.tool_url + "/lti/launch/confirm"
        expect(frame.locator("body")).not_to_contain_text("could not be confirmed")
        assert not to_tool(requests, lti, "GET", "/lti/app")
        assert frame.evaluate(COOKIE_PROBE) is False
        assert frame.evaluate("() => document.hasStorageAccess()") is False

        # So the tool took the storage path (a 200 storage page, not the cookie path's 303), and confirmed.
        launch_response = launch.response()
        assert launch_response is not None and launch_response.status == 200
        [confirm] = to_tool(requests, lti, "POST", "/lti/launch/confirm")
        confirm_response = confirm.response()
        assert confirm_response is not None and confirm_response.status == 200

    [row] = launch_rows(lti)
    assert row.confirmed_at is not None
    state, nonce = row.state, row.claims["nonce"]
    seen = [(entry["subject"], entry["key"], entry["value"], entry["tool_origin"]) for entry in lti.peer.storage_log]
    assert sorted(seen) == sorted([
        ("lti.put_data", f"state-{state}", state, lti.tool_url),
        ("lti.put_data", f"nonce-{state}", nonce, lti.tool_url),
        ("lti.get_data", f"state-{state}", state, lti.tool_url),
        ("lti.get_data", f"nonce-{state}", nonce, lti.tool_url),
    ])


def test_a_wrong_answer_from_platform_storage_leaves_the_launch_unconfirmed(
    lti: LtiEnvironment, tmp_path: Path
) -> None:
    lti.peer.storage_answers_wrong = True
    with chromium(tmp_path / "profile") as context:
        page, requests = open_course(lti, context)
        status = page.frame_locator("iframe#tool").locator("#lti-status")
        expect(status).to_contain_text("could not be confirmed", timeout=TIMEOUT_MS)
        assert not to_tool(requests, lti, "POST", "/lti/launch/confirm")
        assert not to_tool(requests, lti, "GET", "/lti/app")

    [row] = launch_rows(lti)
    assert row.confirmed_at is None
    assert {entry["subject"] for entry in lti.peer.storage_log} == {"lti.put_data", "lti.get_data"}


@pytest.mark.parametrize("blocked", [True, False], ids=["blocked", "allowed"])
def test_the_profile_setting_is_what_blocks_third_party_cookies(tmp_path: Path, blocked: bool) -> None:
    """The control for the probe above: the same cross-site frame keeps the cookie once the setting allows it."""
    with chromium(tmp_path / "profile", block_third_party_cookies=blocked) as context:
        page = context.pages[0] if context.pages else context.new_page()
        page.route("http://localhost:9/course", lambda route: route.fulfill(
            content_type="text/html", body='<iframe id="tool" src="http://127.0.0.1:9/tool"></iframe>'))
        page.route("http://127.0.0.1:9/tool", lambda route: route.fulfill(content_type="text/html", body="<p>tool"))
        page.goto("http://localhost:9/course")
        expect(page.frame_locator("iframe#tool").locator("p")).to_have_text("tool")
        assert tool_frame(page).evaluate(COOKIE_PROBE) is not blocked
