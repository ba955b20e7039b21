"""The tool with the sandbox LMS routes added, served by uvicorn on loopback, and a browser-like client."""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import pytest
from starlette.applications import Starlette

from marketplace.app import create_app
from marketplace.sandbox.views import sandbox_routes
from marketplace.settings import Settings
from tests.conftest import prepare_app_data
from tests.lti.catalog_extras import write_extra_resources
from tests.lti.peer import form_fields
from tests.lti.servers import reserved_socket, serving, url_of


@dataclass
class Walk:
    """One click through a placement: every page on the way, for the test to look at."""

    auth_claims: dict[str, Any]
    picker: httpx.Response
    response_page: httpx.Response | None = None
    returned: httpx.Response | None = None
    course: httpx.Response | None = None


@dataclass
class SandboxEnvironment:
    url: str
    browser: httpx.Client
    app: Starlette
    settings: Settings

    def launch(self, start_path: str) -> tuple[dict[str, Any], httpx.Response]:
        """Start → tool login → sandbox auth → tool launch → the tool's page; returns the id_token claims too."""
        start = self.browser.get(self.url + start_path)
        assert start.status_code == 302, start.text[:500]
        assert start.headers["location"].startswith(self.url + "/lti/login?")
        login = self.browser.get(start.headers["location"])
        assert login.status_code == 302, login.text[:500]
        assert login.headers["location"].startswith(self.url + "/sandbox/auth?")
        authorized = self.browser.get(login.headers["location"])
        assert authorized.status_code == 200, authorized.text[:500]
        assert '/static/autosubmit.js"></script>' in authorized.text and 'class="autosubmit"' in authorized.text
        action, fields = form_fields(authorized.text)
        assert action == self.url + "/lti/launch" and set(fields) == {"id_token", "state"}
        claims = jwt.decode(fields["id_token"], options={"verify_signature": False})
        launched = self.browser.post(action, data=fields)
        assert launched.status_code == 303, launched.text[:500]
        return claims, self.browser.get(launched.headers["location"])

    def walk(self, placement: str, resource_ids: list[str], **extra: str) -> Walk:
        """Click a placement button and go all the way back to the course page."""
        claims, picker = self.launch(f"/sandbox/start/{placement}")
        walk = Walk(claims, picker)
        assert picker.status_code == 200, picker.text[:500]
        token = re.search(r'name="launch_token" value="([^"]+)"', picker.text)
        assert token, picker.text[:500]
        data = [("launch_token", html.unescape(token.group(1)))] + [("resource", rid) for rid in resource_ids]
        walk.response_page = self.browser.post(
            self.url + "/lti/deep-linking/respond", content=urlencode(data + list(extra.items())),
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert walk.response_page.status_code == 200, walk.response_page.text[:500]
        action, fields = form_fields(walk.response_page.text)
        assert action == f"{self.url}/sandbox/return/{placement}" and set(fields) == {"JWT"}
        walk.returned = self.browser.post(action, data=fields)
        assert walk.returned.status_code == 303, walk.returned.text[:800]
        walk.course = self.browser.get(walk.returned.headers["location"])
        assert walk.course.status_code == 200
        return walk


# A graded quiz with three questions, one of them with two right answers, so a score can be partly right.
GRADED_QUIZ_ID = "sandbox-quiz"
GRADED_QUIZ = f'''id = "{GRADED_QUIZ_ID}"
title = "Photosynthesis check"
description = "Three questions on what plants take in, where it happens and what it makes."
subject = "biology"
grade_levels = ["6-8"]
type = "quiz"
language = "en"
keywords = ["photosynthesis"]
thumbnail = "thumbnails/biology.svg"
[author]
name = "Editors"
[license]
id = "CC-BY-4.0"
attribution = "Photosynthesis check by the Editors, LTI Marketplace, CC BY 4.0"
[payload]
max_score = 5
[[payload.questions]]
prompt = "Which gas do plants take in?"
options = ["oxygen", "carbon dioxide", "helium"]
answer = 1
points = 2
[[payload.questions]]
prompt = "Where does photosynthesis happen?"
options = ["in chloroplasts", "in the nucleus", "in the cell wall"]
answer = 0
points = 1
[[payload.questions]]
prompt = "What does photosynthesis make?"
options = ["sugar", "oxygen", "salt"]
answer = [0, 1]
points = 2
'''


def write_graded_quiz(content_dir: Path) -> None:
    (content_dir / "resources" / "biology" / f"{GRADED_QUIZ_ID}.toml").write_text(GRADED_QUIZ, encoding="utf-8")


@contextmanager
def serving_sandbox(settings: Settings) -> Iterator[SandboxEnvironment]:
    """The app with its sandbox on a free loopback port, its base URL set to match; its grade worker runs."""
    with reserved_socket() as sock:
        url = url_of(sock)
        configured = dataclasses.replace(settings, base_url=url, environment="development")
        write_extra_resources(configured.content_dir)
        write_graded_quiz(configured.content_dir)
        prepare_app_data(configured)
        app = create_app(configured)
        # The lead wires the routes into create_app; the test adds them itself so it does not depend on that.
        app.router.routes.extend(sandbox_routes())
        with serving(app, sock), httpx.Client(timeout=20) as browser:
            yield SandboxEnvironment(url, browser, app, configured)


@pytest.fixture
def sandbox(settings: Settings) -> Iterator[SandboxEnvironment]:
    with serving_sandbox(settings) as environment:
        yield environment


@pytest.fixture
def graded_sandbox(settings: Settings, database_url: str) -> Iterator[SandboxEnvironment]:
    """The sandbox on SQLite and on PostgreSQL: the grade outbox claims its jobs differently on each."""
    with serving_sandbox(dataclasses.replace(settings, database_url=database_url)) as environment:
        yield environment
