"""The sandbox in a real Chromium: the auto-submitted forms run under the tool's CSP, and the course page renders.

Also leaves test-artifacts/sandbox-course.png, the screenshot for the README.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import ConsoleMessage, Page, expect, sync_playwright

from tests.conftest import PROJECT_DIR, skip_or_fail
from tests.sandbox.conftest import SandboxEnvironment

CHROMIUM = Path("/usr/bin/chromium")  # Debian's, as tests/lti/test_browser_launch.py uses (never a downloaded one)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 # Tests talk only to loopback servers they started: no host name resolves (fixture pictures on
                 # made-up hosts fail at once instead of reaching out); localhost is the second site of cookie
                 # tests.
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"]
TIMEOUT_MS = 20_000
ARTIFACTS = PROJECT_DIR / "test-artifacts"


@contextmanager
def browser_page() -> Iterator[tuple[Page, list[str]]]:
    """A headless Debian Chromium page, and the console errors it logs (CSP violations among them)."""
    if not CHROMIUM.exists():
        skip_or_fail(f"Chromium not installed at {CHROMIUM}")
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})

            def record(message: ConsoleMessage) -> None:
                if message.type == "error":
                    errors.append(message.text)

            page.on("console", record)
            yield page, errors
        finally:
            browser.close()


def test_clicking_through_the_sandbox_in_a_browser(sandbox: SandboxEnvironment) -> None:
    with browser_page() as (page, errors):
        page.goto(sandbox.url + "/sandbox")
        expect(page.get_by_role("heading", name="Sandbox course", level=1)).to_be_visible()

        page.get_by_role("link", name="Assignment", exact=True).click()
        expect(page.get_by_role("heading", name="Add open resources")).to_be_visible(timeout=TIMEOUT_MS)
        page.get_by_label("Plant cells under the microscope").check()
        page.get_by_label("Points").fill("15")
        page.get_by_role("button", name="Add selected").click()
        expect(page.get_by_text("Points: 15")).to_be_visible(timeout=TIMEOUT_MS)
        expect(page.get_by_role("status")).to_contain_text("from the Assignment launch")

        page.get_by_role("link", name="Editor button", exact=True).click()
        expect(page.get_by_role("heading", name="Add open resources")).to_be_visible(timeout=TIMEOUT_MS)
        for title in ("Leaf html resource", "Leaf image resource", "Leaf quiz resource"):
            page.get_by_label(title).check()
        page.get_by_role("button", name="Add selected").click()
        snippet = page.frame_locator("iframe.sandbox-html[title='Leaf html resource']")
        expect(snippet.get_by_text("Light makes")).to_be_visible(timeout=TIMEOUT_MS)
        expect(page.get_by_role("link", name="Open “Leaf quiz resource” as Sam Student")).to_be_visible()

        # Followed by its address, not clicked: the inserted frames (the figure's picture among them) are
        # still settling and may shift the layout under a click.
        homework = page.get_by_role("link", name="Homework submission", exact=True).get_attribute("href")
        assert homework is not None
        page.goto(homework)
        expect(page.get_by_role("heading", name="Submit your work")).to_be_visible(timeout=TIMEOUT_MS)
        page.get_by_label("Leaf file resource").check()
        page.get_by_role("button", name="Submit selected").click()
        expect(page.get_by_role("heading", name="Submission by Sam Student")).to_be_visible(timeout=TIMEOUT_MS)

        page.get_by_role("link", name="Open “Leaf quiz resource” as Sam Student").click()
        expect(page.get_by_text("Green?")).to_be_visible(timeout=TIMEOUT_MS)
        page.go_back()
        ARTIFACTS.mkdir(exist_ok=True)
        page.goto(sandbox.url + "/sandbox")
        page.screenshot(path=str(ARTIFACTS / "sandbox-course.png"), full_page=True)
        assert not [error for error in errors if "Content Security Policy" in error], errors


def test_a_graded_quiz_in_a_browser_reaches_the_gradebook_table(sandbox: SandboxEnvironment) -> None:
    with browser_page() as (page, errors):
        page.goto(sandbox.url + "/sandbox")
        page.get_by_role("link", name="Assignment", exact=True).click()
        expect(page.get_by_role("heading", name="Add open resources")).to_be_visible(timeout=TIMEOUT_MS)
        page.get_by_label("Photosynthesis check").check()
        page.get_by_role("button", name="Add selected").click()
        expect(page.get_by_text("Points: 5")).to_be_visible(timeout=TIMEOUT_MS)

        page.get_by_role("link", name="Open “Photosynthesis check” as Sam Student").click()
        page.get_by_role("group", name="Which gas do plants take in?").get_by_label("carbon dioxide").check()
        page.get_by_role("group", name="Where does photosynthesis happen?").get_by_label("in chloroplasts").check()
        page.get_by_role("group", name="What does photosynthesis make?").get_by_label("sugar").check()
        page.get_by_role("button", name="Submit answers").click()
        expect(page.get_by_text("Score: 4 / 5")).to_be_visible(timeout=TIMEOUT_MS)  # htmx, under the tool's CSP

        page.goto(sandbox.url + "/sandbox")
        page.get_by_role("navigation", name="Course").get_by_role("link", name="Gradebook").click()
        table = page.get_by_role("table", name="Each student's score per column")
        expect(table.get_by_role("columnheader", name="Photosynthesis check out of 5")).to_be_visible()
        sam = table.get_by_role("row", name="Sam Student")
        for _ in range(100):  # the tool's worker delivers within a moment; the page shows what has arrived
            if "4" in (sam.get_by_role("cell").first.text_content() or ""):
                break
            page.wait_for_timeout(200)
            page.reload()
        expect(sam.get_by_role("cell").first).to_contain_text("Completed · FullyGraded")
        expect(sam.get_by_role("cell").first.locator("strong")).to_have_text("4")
        expect(table.get_by_role("row", name="Lee Learner").get_by_role("cell").first).to_have_text("—")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "sandbox-gradebook.png"), full_page=True)
        assert not [error for error in errors if "Content Security Policy" in error], errors
