"""Take the README's screenshots from the real bundled catalog in a real flow (`python docs/screenshots.py`).

It runs what a user runs: `marketplace db upgrade`, `marketplace index` and `marketplace serve` on a fresh data
folder on loopback, then drives Debian's Chromium through the sandbox LMS: the picker in Canvas's 800 x 600
modal size during an assignment launch, and the sandbox course after the editor and assignment launches.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CHROMIUM = "/usr/bin/chromium"
CLI = [sys.executable, "-m", "marketplace.cli"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data:
        env = {**os.environ, "MARKETPLACE_DATA_DIR": data, "MARKETPLACE_BASE_URL": base,
               "MARKETPLACE_CONTENT_DIR": str(ROOT / "content"), "MARKETPLACE_ENV": "development"}
        subprocess.run([*CLI, "db", "upgrade"], env=env, check=True)
        subprocess.run([*CLI, "index"], env=env, check=True)
        server = subprocess.Popen([*CLI, "serve", "--port", str(port)], env=env)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code < 500:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            _shoot(base)
        finally:
            server.terminate()
            server.wait(timeout=20)


def _shoot(base: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 800, "height": 600})
        page.set_default_timeout(20_000)
        page.goto(base + "/sandbox")
        page.get_by_role("link", name="Assignment", exact=True).click()
        expect(page.get_by_role("heading", name="Add open resources")).to_be_visible()
        page.get_by_label("Search").fill("photosynthesis for grade 7")
        expect(page.locator("#picker-results .summary")).not_to_contain_text("in the catalog")
        page.wait_for_function("document.querySelector('.htmx-request') === null")
        page.locator("#picker-results input[name=resource]").first.check()
        expect(page.get_by_role("heading", name="Selected (1)")).to_be_visible()
        page.get_by_label("Points").fill("10")
        page.screenshot(path=str(DOCS / "picker.png"))
        page.get_by_role("button", name="Add selected").click()
        expect(page.get_by_role("status")).to_contain_text("from the Assignment launch")
        page.get_by_role("link", name="Editor button", exact=True).click()
        expect(page.get_by_role("heading", name="Add open resources")).to_be_visible()
        page.get_by_label("Search").fill("water cycle")
        expect(page.locator("#picker-results .summary")).not_to_contain_text("in the catalog")
        page.wait_for_function("document.querySelector('.htmx-request') === null")
        for choice in page.locator("#picker-results input[name=resource]").all()[:3]:
            choice.check()
        page.get_by_role("button", name="Add selected").click()
        expect(page.get_by_role("status")).to_be_visible()
        page.set_viewport_size({"width": 1100, "height": 900})
        page.screenshot(path=str(DOCS / "sandbox.png"), full_page=False)
        browser.close()


if __name__ == "__main__":
    main()
