"""Fixtures for grading over real HTTP: our tool, and a loopback platform that also plays AGS and NRPS."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from marketplace.settings import Settings
from marketplace.web.services import services
from tests.grading.gradebook_peer import GradebookPeer
from tests.lti.conftest import LtiEnvironment, extras, lti  # noqa: F401 - fixtures used by these tests
from tests.lti.peer import INSTRUCTOR, LEARNER

AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
CUSTOM = "https://purl.imsglobal.org/spec/lti/claim/custom"
TOOL_PLATFORM = "https://purl.imsglobal.org/spec/lti/claim/tool_platform"
HEADER = "X-Launch-Token"
COURSE = "course-1"


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """The shared settings, with the app's grade worker off for tests that deliver grades themselves."""
    manual = request.node.get_closest_marker("manual_delivery") is not None
    return dataclasses.replace(settings, grade_worker=not manual)


@dataclass
class Graded:
    """The launch environment plus the platform's gradebook."""

    env: LtiEnvironment
    gradebook: GradebookPeer

    @property
    def app(self) -> Any:
        return self.env.app

    def launch(self, user: str, *, role: str = "learner", link: str = "link-1", resource_id: str = "leaf-quiz",
               ags: dict[str, Any] | None | bool = True, nrps: bool = True, custom: dict[str, str] | None = None,
               product: str = "canvas") -> tuple[str, str]:
        """Launch the resource link as `user`; returns the page and its launch token."""
        peer = self.env.peer
        peer.user_id = user
        peer.roles = [LEARNER if role == "learner" else INSTRUCTOR]
        peer.resource_link_id = link
        peer.message_type = "LtiResourceLinkRequest"
        claims: dict[str, Any] = {CUSTOM: {"resource_id": resource_id, **(custom or {})},
                                  TOOL_PLATFORM: {"product_family_code": product, "guid": "loopback"}}
        if ags is True:
            claims[AGS_CLAIM] = self.gradebook.ags_claim(COURSE)
        elif isinstance(ags, dict):
            claims[AGS_CLAIM] = ags
        if nrps:
            claims[NRPS_CLAIM] = self.gradebook.nrps_claim(COURSE)
        peer.extra_claims = claims
        # Each launch is a new browser (the handoff cookie binds a launch to the browser that started it).
        self.env.browser.cookies.clear()
        page = self.env.launch()
        assert page.status_code == 200, page.text[:500]
        return page.text, token_of(page.text)

    def submit(self, token: str, answers: dict[str, list[str] | str], htmx: bool = True) -> Any:
        headers = {HEADER: token, "HX-Request": "true"} if htmx else {}
        data: dict[str, list[str] | str] = dict(answers)
        if not htmx:
            data["launch_token"] = token
        return self.env.browser.post(self.env.tool_url + "/lti/quiz/submit", data=data, headers=headers)

    def grades(self, token: str) -> Any:
        return self.env.browser.get(self.env.tool_url + "/lti/grades", headers={HEADER: token, "HX-Request": "true"})

    def job_states(self) -> list[tuple[str, str]]:
        from sqlalchemy import select

        from marketplace.store.models import GradeJobRow

        with self.env.sessions() as session:
            return [(row.user_sub, row.state) for row in session.scalars(select(GradeJobRow).order_by(GradeJobRow.id))]

    def deliver(self, workers: int = 1, **options: Any) -> Any:
        """Deliver everything due (the app's worker is off), with `workers` delivery workers side by side."""
        import asyncio

        return asyncio.run(self._drain(workers, **options))

    async def _drain(self, workers: int, timeout: Any = None, **config: Any) -> Any:
        import asyncio

        from marketplace.grading.runtime import TIMEOUT, build_grading
        from marketplace.grading.worker import DeliveryConfig

        # Fresh clients and workers on the app's database, as separate processes would have.
        gradings = [build_grading(self.env.sessions, services(self.app).signing_keys, self.env.settings.secret_key,
                                  allow_loopback=True, config=DeliveryConfig(**config), timeout=timeout or TIMEOUT)
                    for _ in range(workers)]
        self.gradings = gradings
        try:
            return await asyncio.gather(*(grading.delivery.drain() for grading in gradings))
        finally:
            for grading in gradings:
                await grading.stop()

    def jobs(self) -> list[Any]:
        from sqlalchemy import select

        from marketplace.store.models import GradeJobRow

        with self.env.sessions() as session:
            rows = list(session.scalars(select(GradeJobRow).order_by(GradeJobRow.id)))
            session.expunge_all()
            return rows


def token_of(page: str) -> str:
    match = re.search(r"hx-headers='([^']+)'", page)
    assert match, page[:500]
    return str(json.loads(match.group(1).replace("&#34;", '"'))[HEADER])


def wait_for(condition: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def graded(extras: LtiEnvironment) -> Graded:  # noqa: F811 - the imported fixture
    gradebook = GradebookPeer(extras.peer, extras.tool_url)
    gradebook.add_members(COURSE, ("ada", "Ada Lovelace", "learner"), ("bob", "Bob Brown", "learner"),
                          ("cy", "Cy Young", "learner"), ("teacher", "Tess Teacher", "instructor"))
    extras.peer.services = gradebook.app()
    return Graded(extras, gradebook)


@pytest.fixture
def page(tmp_path: Any) -> Any:
    """A Chromium page (Debian's browser, third-party cookies allowed) for the grading browser tests."""
    from tests.lti.test_browser_launch import TIMEOUT_MS, chromium

    with chromium(tmp_path / "profile", block_third_party_cookies=False) as context:
        found = context.pages[0] if context.pages else context.new_page()
        found.set_default_timeout(TIMEOUT_MS)
        yield found
