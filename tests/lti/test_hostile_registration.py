"""The registration door against a hostile outsider (issue 10, findings 1-5), over loopback with the real app.

Every attack here is a platform of the test's own: a fake LTI-DR platform on loopback whose configuration
names hostile URLs. Outbound destination checks are tested with an injected resolver and a connector that
fails the test instead of connecting, so no packet ever leaves loopback even if the check were broken.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from typing import Any

import httpcore
import httpx
import pytest
from sqlalchemy import update

from marketplace.app import create_app
from marketplace.lti import dynamic_registration
from marketplace.outbound import DestinationRefused, guarded_async_transport, guarded_sync_transport
from marketplace.platform_urls import PlatformUrlError, normalise_url
from marketplace.settings import Settings
from marketplace.store.database import make_session_factory
from marketplace.store.models import PlatformRow
from marketplace.store.registrations import approve_platform, find_platform
from marketplace.web.frame_ancestors import FrameAncestors
from marketplace.web.security import content_security_policy
from tests.conftest import prepare_app_data
from tests.lti.servers import running_server
from tests.lti.test_dynamic_registration import FakePlatform, Tool, running_tool

ROUTES = ("/", "/healthz", "/lti/jwks", "/resources")


@pytest.fixture
def app_tool(settings: Settings) -> Iterator[Tool]:
    prepare_app_data(settings)
    with running_tool(settings, create_app) as running:
        yield running


@pytest.fixture
def hostile() -> Iterator[FakePlatform]:
    fake = FakePlatform()
    with running_server(fake.app):
        yield fake


def policy(tool: Tool, path: str = "/") -> str:
    response = tool.client.get(path)
    assert response.status_code < 500, response.text
    return response.headers["content-security-policy"]


def frame_ancestors(tool: Tool) -> str:
    return policy(tool).split("frame-ancestors", 1)[1]


def force_row(tool: Tool, **values: Any) -> None:
    """Write values into the stored platform directly: a row stored before the door was fixed."""
    with make_session_factory(tool.engine)() as session:
        session.execute(update(PlatformRow).values(**values))
        session.commit()


# --- finding 1: one GET took every route down ----------------------------------------------------------------
def test_credentials_with_non_latin_characters_are_refused_and_every_route_stays_up(app_tool: Tool,
                                                                                   hostile: FakePlatform) -> None:
    hostile.overrides = {"authorization_endpoint": "https://中@evil.example/auth"}
    page = app_tool.register(hostile)
    assert page.status_code == 502 and "user name or password" in page.text
    assert app_tool.stored() == []
    for path in ROUTES:
        assert app_tool.client.get(path).status_code < 500, path


def test_a_bad_row_stored_before_the_fix_cannot_break_the_headers(app_tool: Tool, hostile: FakePlatform) -> None:
    assert app_tool.register(hostile).status_code == 200
    force_row(app_tool, status="active", auth_login_url="https://中@evil.example/auth",
              frame_origins=["https://x;frame-ancestors *;sandbox", "https://ok.example.edu"])
    ancestors = FrameAncestors(make_session_factory(app_tool.engine))
    ancestors.refresh()
    assert ancestors.value == f"{hostile.url} https://ok.example.edu"
    header = content_security_policy("n", ancestors.value)
    header.encode("latin-1")  # sendable
    assert "evil" not in header and "sandbox" not in header and header.count("frame-ancestors") == 1
    # And the login refuses to redirect to the stored bad URL.
    login = app_tool.client.get("/lti/login", params={"iss": hostile.url, "client_id": hostile.client_id,
                                                      "login_hint": "x"}, follow_redirects=False)
    assert login.status_code == 400 and "not a usable URL" in login.text


# --- finding 2: header injection -----------------------------------------------------------------------------
@pytest.mark.parametrize("url", [
    "https://*/auth",
    "https://x;frame-ancestors *;sandbox;@evil.example/auth",
    "https://evil.example, *",
    "https://evil.example/auth\r\nX-Injected: 1",
    "https://evil .example/auth",
    "javascript:alert(1)",
])
def test_header_breaking_urls_are_refused_at_the_door(app_tool: Tool, hostile: FakePlatform, url: str) -> None:
    hostile.overrides = {"authorization_endpoint": url}
    assert app_tool.register(hostile).status_code == 502
    assert app_tool.stored() == []
    assert "*" not in frame_ancestors(app_tool) and "sandbox" not in policy(app_tool)


def test_the_policy_builder_refuses_unsafe_sources_whatever_their_origin() -> None:
    safe = content_security_policy("n", "https://lms.example.edu https://*.instructure.com")
    assert safe.endswith("frame-ancestors 'self' https://lms.example.edu https://*.instructure.com")
    for bad in ("https://x;frame-ancestors *", "https://*", "*", "https://中.example", "https://a.example,b"):
        assert content_security_policy("n", bad).endswith("frame-ancestors 'self'"), bad


@pytest.mark.parametrize(("url", "normal"), [
    ("HTTPS://LMS.Example.EDU:443/auth", "https://lms.example.edu/auth"),
    ("https://bücher.example/auth", "https://xn--bcher-kva.example/auth"),
    ("https://[::1]:8443/x", "https://[::1]:8443/x"),
])
def test_urls_are_stored_normalised(url: str, normal: str) -> None:
    assert normalise_url(url) == normal


@pytest.mark.parametrize("url", ["http://lms.example/auth", "https://user:pw@lms.example/", "https://lms.example:0x1/",
                                 "https://-bad-.example/", "https://lms.example/é", "https://1.2.3.4.5/"])
def test_urls_refused(url: str) -> None:
    with pytest.raises(PlatformUrlError):
        normalise_url(url)


# --- finding 3: anyone could add any site to the allow-lists ---------------------------------------------------
def test_a_self_registered_platform_is_quarantined_until_approved(app_tool: Tool, hostile: FakePlatform) -> None:
    hostile.overrides = {"authorization_endpoint": "https://clickjack.evil.example/auth"}
    page = app_tool.register(hostile)
    assert page.status_code == 200 and "marketplace platform approve" in page.text
    assert app_tool.stored()[0]["auth_login_url"] == "https://clickjack.evil.example/auth"
    ancestors = FrameAncestors(make_session_factory(app_tool.engine))
    ancestors.refresh()
    assert "clickjack" not in ancestors.value and hostile.url not in ancestors.value
    # Finding 4: no redirect from our address to the registered login URL while it waits.
    login = app_tool.client.get("/lti/login", params={"iss": hostile.url, "client_id": hostile.client_id,
                                                      "login_hint": "x"}, follow_redirects=False)
    assert login.status_code in (400, 403) and "clickjack" not in login.headers.get("location", "")
    with make_session_factory(app_tool.engine)() as session:
        row = find_platform(session, hostile.url, hostile.client_id, include_pending=True)
        assert row is not None and row.status == "pending"
        approve_platform(session, row)
        session.commit()
    login = app_tool.client.get("/lti/login", params={"iss": hostile.url, "client_id": hostile.client_id,
                                                      "login_hint": "x"}, follow_redirects=False)
    assert login.status_code in (302, 303, 200)  # approved: an ordinary platform now


def test_registrations_are_rate_limited_per_address(app_tool: Tool, hostile: FakePlatform) -> None:
    statuses = []
    for number in range(7):
        hostile.client_id = f"client-{number}"
        statuses.append(app_tool.register(hostile).status_code)
    assert statuses[:5] == [200] * 5 and statuses[5:] == [429, 429]
    assert "Too many registrations" in app_tool.register(hostile).text
    assert len(app_tool.stored()) == 5


def test_pending_registrations_are_capped(app_tool: Tool, hostile: FakePlatform,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dynamic_registration, "MAX_PENDING_PLATFORMS", 2)
    codes = []
    for number in range(3):
        hostile.client_id = f"client-{number}"
        codes.append(app_tool.register(hostile))
    assert [page.status_code for page in codes] == [200, 200, 403]
    assert "waiting for an administrator" in codes[-1].text and len(app_tool.stored()) == 2


# --- finding 5: server-side request forgery with reflection -----------------------------------------------------
def test_loopback_is_not_fetched_in_production_like_settings(settings: Settings) -> None:
    secret_hits: list[str] = []

    def secret_service(base_url: str) -> Any:
        from starlette.applications import Starlette
        from starlette.responses import PlainTextResponse
        from starlette.routing import Route

        async def secret(request: Any) -> PlainTextResponse:
            secret_hits.append(request.url.path)
            return PlainTextResponse("internal-secret-value", status_code=500)
        return Starlette(routes=[Route("/{path:path}", secret)])

    closed = dataclasses.replace(settings, loopback_platforms=False)
    with running_server(secret_service) as internal, running_tool(closed, create_app) as tool:
        page = tool.client.get("/lti/register", params={"openid_configuration": f"{internal}/admin"})
        assert page.status_code == 400 and "not at a public address" in page.text
        assert "internal-secret-value" not in page.text
        assert secret_hits == []


class _FailingConnector(httpcore.AsyncNetworkBackend):
    """Fails the test if the guard ever lets a connection through."""

    async def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        pytest.fail(f"connected to {host}:{port}")

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        pytest.fail("connected to a unix socket")

    async def sleep(self, seconds: float) -> None:
        return None


class _FailingSyncConnector(httpcore.NetworkBackend):
    def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        pytest.fail(f"connected to {host}:{port}")


@pytest.mark.parametrize("address", ["10.0.0.5", "172.16.3.4", "192.168.1.1", "169.254.169.254", "127.0.0.1",
                                     "::1", "fd00::1", "fe80::1", "224.0.0.1", "0.0.0.0",  # noqa: S104 - a resolver answer, nothing binds
                                     "::ffff:10.0.0.1",
                                     "240.0.0.1"])
def test_private_and_special_addresses_are_refused_after_resolving(address: str) -> None:
    async def fetch() -> None:
        transport = guarded_async_transport(allow_loopback=False, resolver=lambda host, port: [address],
                                            inner=_FailingConnector())
        async with httpx.AsyncClient(transport=transport) as client:
            with pytest.raises(DestinationRefused):
                await client.get("https://platform.example/.well-known/openid-configuration")

    asyncio.run(fetch())
    sync = guarded_sync_transport(allow_loopback=False, resolver=lambda host, port: [address],
                                  inner=_FailingSyncConnector())
    with httpx.Client(transport=sync) as client, pytest.raises(DestinationRefused):
        client.get("https://platform.example/jwks")


def test_a_name_with_one_public_and_one_private_address_connects_to_the_public_one() -> None:
    seen: list[str] = []

    class Recorder(_FailingConnector):
        async def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
            seen.append(host)
            raise httpcore.ConnectError("recorded, not connected")

    async def fetch() -> None:
        transport = guarded_async_transport(allow_loopback=False,
                                            resolver=lambda h, p: ["10.1.1.1", "93.184.215.14"], inner=Recorder())
        async with httpx.AsyncClient(transport=transport) as client:
            with pytest.raises(httpx.ConnectError):
                await client.get("https://platform.example/")

    asyncio.run(fetch())
    assert seen == ["93.184.215.14"]


def test_the_transport_contract_httpx_still_has_a_pool() -> None:
    # guarded_*_transport replace httpx's private `_pool`; an httpx upgrade that renames it must fail here.
    assert isinstance(httpx.AsyncHTTPTransport()._pool, httpcore.AsyncConnectionPool)  # noqa: SLF001
    assert isinstance(httpx.HTTPTransport()._pool, httpcore.ConnectionPool)  # noqa: SLF001
