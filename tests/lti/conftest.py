"""Fixtures for LTI tests over real HTTP: our tool and a loopback platform peer, each served by uvicorn."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from marketplace.app import create_app
from marketplace.catalog.sync import load_content, sync_index
from marketplace.lti.platform_keys import PlatformKeySets
from marketplace.settings import Settings
from marketplace.store.database import make_engine, make_session_factory, upgrade_database
from marketplace.store.registrations import add_deployment, add_platform
from marketplace.web.services import services
from tests.lti.catalog_extras import write_extra_resources
from tests.lti.dl_receiver import DeepLinkReceiver
from tests.lti.peer import PlatformPeer, form_fields
from tests.lti.servers import reserved_socket, serving, url_of


@dataclass
class LtiEnvironment:
    tool_url: str
    peer: PlatformPeer
    browser: httpx.Client
    sessions: sessionmaker[Session]
    settings: Settings
    app: object

    def launch(self, *, follow: bool = True, **login_extra: str) -> httpx.Response:
        """Login at the tool, authorize at the peer, post the launch form back; follow to the app page."""
        login = self.browser.get(self.peer.login_url(**login_extra))
        if login.status_code != 302:
            return login
        authorized = self.browser.get(login.headers["location"])
        if authorized.status_code != 200:
            return authorized
        action, fields = form_fields(authorized.text)
        launched = self.browser.post(action, data=fields)
        if follow and launched.status_code == 303:
            return self.browser.get(launched.headers["location"])
        return launched


@pytest.fixture
def lti(database_url: str, settings: Settings, tmp_path: Path) -> Iterator[LtiEnvironment]:
    with ExitStack() as stack:
        tool_socket, peer_socket = stack.enter_context(reserved_socket()), stack.enter_context(reserved_socket())
        yield from _lti_environment(stack, tool_socket, peer_socket, database_url, settings)


def _lti_environment(stack: ExitStack, tool_socket: socket.socket, peer_socket: socket.socket, database_url: str,
                     settings: Settings) -> Iterator[LtiEnvironment]:
    tool_url, peer_url = url_of(tool_socket), url_of(peer_socket)
    configured = dataclasses.replace(settings, database_url=database_url, base_url=tool_url)
    upgrade_database(database_url)
    engine = make_engine(database_url)
    stack.callback(engine.dispose)  # after the servers below have stopped
    sessions = make_session_factory(engine)
    peer = PlatformPeer(peer_url, tool_url)
    with sessions() as session:
        platform = add_platform(session, issuer=peer_url, client_id=peer.client_id, name="Loopback LMS",
                                auth_login_url=peer_url + "/auth", auth_token_url=peer_url + "/token",
                                key_set_url=peer_url + "/jwks", allow_http=True)
        add_deployment(session, platform, peer.deployment_id)
        session.commit()
        load_content(session, configured.content_dir)
        session.commit()
        sync_index(session, configured.index_dir, workers=1)
    app = create_app(configured)
    stack.enter_context(serving(peer.app(), peer_socket))
    stack.enter_context(serving(app, tool_socket))
    # A short refetch interval so key-rotation tests need not wait the production 5 s.
    app.state.services = dataclasses.replace(
        services(app), platform_keys=PlatformKeySets(services(app).http, min_refetch_interval=0.5))
    browser = stack.enter_context(httpx.Client(timeout=20))
    yield LtiEnvironment(tool_url, peer, browser, sessions, configured, app)


@pytest.fixture
def extras(lti: LtiEnvironment) -> LtiEnvironment:
    """The launch environment with a resource of every type in its catalog (indexed and visible)."""
    write_extra_resources(lti.settings.content_dir)
    with lti.sessions() as session:
        load_content(session, lti.settings.content_dir)
        session.commit()
        sync_index(session, lti.settings.index_dir, workers=1)
    services(lti.app).catalog.refresh()  # don't wait for the background refresh
    return lti


@pytest.fixture
def receiver(extras: LtiEnvironment) -> Iterator[DeepLinkReceiver]:
    """The platform's deep-linking return endpoint on its own loopback port, verifying strictly."""
    sock = reserved_socket()
    found = DeepLinkReceiver(issuer=extras.peer.issuer, client_id=extras.peer.client_id,
                             tool_jwks_url=extras.tool_url + "/lti/jwks")
    with serving(found.app(), sock) as base_url:
        found.return_url = base_url + "/return"
        yield found
