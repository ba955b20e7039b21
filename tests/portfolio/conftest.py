"""Portfolio fixtures: the LTI loopback environment with the portfolio routes, and students launched into it."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from marketplace.lti import launch_token
from marketplace.store.database import make_engine, make_session_factory, upgrade_database
from marketplace.store.models import PortfolioItemRow
from marketplace.store.registrations import add_platform
from marketplace.web import portfolio_views
from tests.lti.conftest import LtiEnvironment, lti  # noqa: F401 - re-exported fixture
from tests.lti.peer import DL_SETTINGS, LEARNER

FIXTURE = json.loads((Path(__file__).parent.parent / "fixtures" / "canvas-deep-linking.json").read_text())
PLACEMENT = "https://www.instructure.com/placement"
SMALL_LIMIT = 4096


@dataclass
class Student:
    """One launched student: the launch token of their homework_submission picker page."""

    env: LtiEnvironment
    sub: str
    token: str

    def headers(self, htmx: bool = True) -> dict[str, str]:
        headers = {launch_token.HEADER: self.token}
        if htmx:
            headers["HX-Request"] = "true"
        return headers

    def portfolio(self) -> httpx.Response:
        return self.env.browser.get(self.env.tool_url + "/lti/portfolio", headers=self.headers())

    def add(self, title: str = "", *, url: str = "", note: str = "", file: tuple[str, bytes] | None = None,
            htmx: bool = True, in_form: bool = False) -> httpx.Response:
        """Post the add form as a browser would (multipart, with an empty file part when no file is chosen)."""
        data = {"title": title, "url": url, "note": note}
        headers = self.headers(htmx)
        if in_form:
            data["launch_token"] = self.token
            del headers[launch_token.HEADER]
        name, content = file or ("", b"")
        return self.env.browser.post(self.env.tool_url + "/lti/portfolio/items", data=data,
                                     files={"file": (name, content, "application/octet-stream")}, headers=headers)

    def item_ids(self) -> list[str]:
        return re.findall(r'name="portfolio_item" value="([^"]+)"', self.portfolio().text)


def launch_page(env: LtiEnvironment, sub: str, placement: str = "homework_submission",
                roles: list[str] | None = None) -> httpx.Response:
    claim = dict(FIXTURE["deep_linking_settings_by_placement"][placement])
    claim["deep_link_return_url"] = "https://lms.example/return"
    env.peer.user_id = sub
    env.peer.roles = roles or [LEARNER]
    env.peer.message_type = "LtiDeepLinkingRequest"
    env.peer.extra_claims = {DL_SETTINGS: claim, PLACEMENT: placement}
    return env.launch()


def page_token(page: httpx.Response) -> str:
    found = re.search(r'"X-Launch-Token": "([^"]+)"', html.unescape(page.text))
    assert found, page.text[:400]
    return found.group(1)


@pytest.fixture
def portfolio_env(lti: LtiEnvironment) -> LtiEnvironment:  # noqa: F811 - the fixture imported above
    """The LTI environment with the portfolio routes (added here unless app.py already has them)."""
    router = lti.app.router  # type: ignore[attr-defined]
    names = {getattr(route, "name", None) for route in router.routes}
    router.routes.extend(route for route in portfolio_views.routes() if route.name not in names)
    return lti


@pytest.fixture
def student(portfolio_env: LtiEnvironment) -> Callable[[str], Student]:
    """Launch a student (by `sub`) into a homework_submission picker."""

    def launch(sub: str) -> Student:
        page = launch_page(portfolio_env, sub)
        assert page.status_code == 200, page.text[:400]
        return Student(portfolio_env, sub, page_token(page))

    return launch


def rows(sessions: sessionmaker[Session]) -> list[PortfolioItemRow]:
    with sessions() as session:
        return list(session.scalars(select(PortfolioItemRow)))


def leftover_files(data_dir: Path) -> list[Path]:
    """Everything in the uploads folder, temporary files included."""
    folder = data_dir / "uploads"
    return sorted(folder.iterdir()) if folder.exists() else []


@dataclass
class Database:
    engine: Engine
    sessions: sessionmaker[Session]
    platform_ids: tuple[int, int]


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """A migrated database with two platforms, for store-level tests."""
    upgrade_database(database_url)
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    with sessions() as session:
        ids: list[int] = []
        for number in (1, 2):
            platform = add_platform(
                session, issuer=f"https://lms{number}.example", client_id="client", name=f"LMS {number}",
                auth_login_url="https://lms.example/auth", auth_token_url="https://lms.example/token",
                key_set_url="https://lms.example/jwks")
            session.flush()
            ids.append(platform.id)
        session.commit()
    yield Database(engine, sessions, (ids[0], ids[1]))
    engine.dispose()
