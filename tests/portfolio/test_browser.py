"""A real Chromium adds to a portfolio with htmx (multipart upload, launch token header) under the tool's CSP."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.lti.conftest import LtiEnvironment
from tests.lti.test_browser_launch import TIMEOUT_MS, chromium
from tests.portfolio import samples
from tests.portfolio.conftest import Student, rows

# htmx 2 leaves 4xx answers unswapped by default; this is the setting base.html's htmx-config should carry
# (the lead's file), so a refused upload shows its sentence in place.
START_FORM = """<form method="post" action="{action}" enctype="multipart/form-data">
<input name="launch_token" value="{token}"><input name="title" value="First note">
<textarea name="note">Seen: three herons.</textarea><input type="file" name="file"><button>Go</button></form>"""


def open_full_page(page: Page, env: LtiEnvironment, ada: Student) -> None:
    """A plain form post (no htmx) answers with the whole portfolio page."""
    page.set_content(START_FORM.format(action=env.tool_url + "/lti/portfolio/items", token=html.escape(ada.token)))
    with page.expect_navigation():
        page.get_by_role("button", name="Go").click()
    expect(page.get_by_role("radio", name="First note")).to_be_checked(timeout=TIMEOUT_MS)


def test_adding_items_in_a_browser(portfolio_env: LtiEnvironment, student: Callable[[str], Student],
                                   tmp_path: Path) -> None:
    ada = student("student-ada")
    chart = tmp_path / "chart.png"
    chart.write_bytes(samples.PNG)
    with chromium(tmp_path / "profile") as context:
        page = context.new_page()
        errors: list[str] = []  # CSP violations and failed loads (the browser's own favicon probe aside)
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        open_full_page(page, portfolio_env, ada)
        page.get_by_label("Title").fill("Chart")
        page.get_by_label("File").set_input_files(str(chart))
        with page.expect_response(lambda r: r.url.endswith("/lti/portfolio/items")) as answer:
            page.get_by_role("button", name="Add to portfolio").click()
        request = answer.value.request
        assert request.headers.get("hx-request") == "true" and request.headers.get("x-launch-token") == ada.token
        assert answer.value.status == 200
        expect(page.get_by_role("radio", name="Chart")).to_be_checked(timeout=TIMEOUT_MS)
        expect(page.get_by_role("status")).to_have_text("Added “Chart” to your portfolio.")
        expect(page.get_by_role("radio", name="First note")).not_to_be_checked()
        expect(page.get_by_label("Title")).to_have_value("")  # a fresh form for the next item
        # The radios belong to the submit form although they sit outside it (a form cannot hold the add form).
        chosen = page.eval_on_selector("input[name=portfolio_item]:checked", "radio => radio.form && radio.form.id")
        assert chosen == "picker-choose"
        assert [e for e in errors if "favicon.ico" not in e and "404 (Not Found)" not in e] == [], errors
        # A refused upload answers 400 with the portfolio and its alert; base.html tells htmx to swap 4xx.
        fake = tmp_path / "fake.png"
        fake.write_bytes(b"not a png")
        page.get_by_label("Title").fill("Fake")
        page.get_by_label("File").set_input_files(str(fake))
        with page.expect_response(lambda r: r.url.endswith("/lti/portfolio/items")) as answer:
            page.get_by_role("button", name="Add to portfolio").click()
        assert answer.value.status == 400
        expect(page.get_by_role("alert")).to_contain_text("does not look like a PNG file", timeout=TIMEOUT_MS)
        expect(page.get_by_label("Title")).to_have_value("Fake")  # kept, to correct and retry
    assert sorted(row.title for row in rows(portfolio_env.sessions)) == ["Chart", "First note"]
