"""Dynamic registration end to end over real loopback HTTP: a fake platform and our registration page, each
served by uvicorn in a thread."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from marketplace.app import _templates, create_app
from marketplace.lti.canvas_config import PLACEMENTS, canvas_configuration
from marketplace.lti.dynamic_registration import (
    CANVAS_LAUNCH_HEIGHT,
    CANVAS_LAUNCH_WIDTH,
    CANVAS_PLACEMENTS,
    CANVAS_PRIVACY_LEVEL,
    CANVAS_TOOL_ID,
    CLIENT_NAME,
    MAX_BODY_SHOWN,
    TOOL_CONFIGURATION,
    WANTED_SCOPES,
    DynamicRegistrationError,
    RegisteredPlatform,
    _read_registration,
    store_registration,
    tool_registration_payload,
)
from marketplace.settings import Settings
from marketplace.shipped import static_dir
from marketplace.store.database import make_engine, make_session_factory, upgrade_database
from marketplace.store.registrations import (
    approve_platform,
    find_platform,
    list_deployments,
    list_platforms,
    remove_platform,
)
from marketplace.web.registration_views import register_page
from marketplace.web.security import SecurityHeadersMiddleware
from marketplace.web.services import Services, services
from tests.lti.conftest import LtiEnvironment
from tests.lti.servers import running_server

TOKEN = "registration-token-123"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
CANVAS_EXTRA_SCOPES = ["https://canvas.instructure.com/lti/public_jwk/scope/update"]
# Canvas's registration answer and the rules a registration for Canvas follows (reference sections 4.1, 4.2).
CANVAS = json.loads((Path(__file__).parent.parent / "fixtures" / "canvas-registration.json").read_text())
RULES = CANVAS["rules"]
REGISTRATION_CONFIG_URL = "https://canvas.instructure.com/lti/registration_config_url"


# --- the fake platform -------------------------------------------------------------------------------------------


@dataclass
class FakePlatform:
    """A Canvas-shaped (or Moodle-shaped) LTI-DR platform; tests set its knobs and read what it received."""

    url: str = ""
    family: str = "canvas"
    token: str = TOKEN  # "" = the platform checks no token (and expects none)
    issuer: str | None = None  # None = its own origin
    scopes_supported: list[str] | None = dataclasses.field(
        default_factory=lambda: [*WANTED_SCOPES, *CANVAS_EXTRA_SCOPES])
    register_status: int = 200
    register_error: str = ""
    client_id: str = "10000000000001"
    deployment_id: Any = None  # None = not sent; anything else is sent as is (hostile values too)
    # Where the answer carries deployment_id: "top" as current Canvas does, "tool_configuration" as older
    # Canvas and Moodle do.
    deployment_at: str = "top"
    configuration_headers: list[dict[str, str]] = field(default_factory=list)
    registration_headers: list[dict[str, str]] = field(default_factory=list)
    registrations: list[dict[str, Any]] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)  # configuration fields a hostile platform sets

    @property
    def configuration_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    def authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization")
        return header is None if not self.token else header == f"Bearer {self.token}"

    async def configuration(self, request: Request) -> Response:
        self.configuration_headers.append(dict(request.headers))
        if not self.authorized(request):
            return JSONResponse({"errors": [{"message": "Invalid registration token"}]}, status_code=401)
        platform: dict[str, Any] = {
            "product_family_code": self.family,
            "version": "vCloud" if self.family == "canvas" else "4.4",
            "messages_supported": [{"type": "LtiResourceLinkRequest"}, {"type": "LtiDeepLinkingRequest"}],
        }
        if self.family == "canvas":
            platform["https://canvas.instructure.com/lti/account_name"] = "Test University"
        body: dict[str, Any] = {
            "issuer": self.issuer or self.url,
            "authorization_endpoint": f"{self.url}/api/lti/authorize_redirect",
            "token_endpoint": f"{self.url}/login/oauth2/token",
            "jwks_uri": f"{self.url}/api/lti/security/jwks",
            "registration_endpoint": f"{self.url}/register",
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
            "claims_supported": ["sub", "name", "given_name", "family_name", "email", "locale"],
            "https://purl.imsglobal.org/spec/lti-platform-configuration": platform,
        }
        if self.scopes_supported is not None:
            body["scopes_supported"] = self.scopes_supported
        body.update(self.overrides)
        return JSONResponse(body)

    async def register(self, request: Request) -> Response:
        self.registration_headers.append(dict(request.headers))
        if not self.authorized(request):
            return JSONResponse({"errors": [{"message": "Invalid registration token"}]}, status_code=401)
        received = await request.json()
        self.registrations.append(received)
        if self.register_status != 200:
            return Response(self.register_error, status_code=self.register_status, media_type="application/json")
        answer = {**received, "client_id": self.client_id}
        tool_configuration = dict(received[TOOL_CONFIGURATION])
        if self.family == "canvas":
            tool_configuration[REGISTRATION_CONFIG_URL] = f"{self.url}/api/lti/registrations/{self.client_id}/view"
        if self.deployment_id is not None:
            (answer if self.deployment_at == "top" else tool_configuration)["deployment_id"] = self.deployment_id
        answer[TOOL_CONFIGURATION] = tool_configuration
        return JSONResponse(answer)

    def app(self, base_url: str) -> Starlette:
        self.url = base_url
        return Starlette(routes=[
            Route("/.well-known/openid-configuration", self.configuration),
            Route("/register", self.register, methods=["POST"]),
        ])


@pytest.fixture
def platform() -> Iterator[FakePlatform]:
    fake = FakePlatform()
    with running_server(fake.app):
        yield fake


# --- our side ----------------------------------------------------------------------------------------------------


async def _browse(request: Request) -> Response:
    return PlainTextResponse("catalog")


def registration_app(settings: Settings) -> Starlette:
    """The registration route with the services it reads (base.html also needs `browse` and `static`)."""
    engine = make_engine(settings.database_url)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            engine.dispose()

    app = Starlette(
        routes=[
            Route("/", _browse, name="browse"),
            Route("/lti/register", register_page, name="lti_register"),
            Mount("/static", StaticFiles(directory=static_dir()), name="static"),
        ],
        lifespan=lifespan,
        middleware=[Middleware(SecurityHeadersMiddleware)],
    )
    unused: Any = None  # the registration route reads none of these
    app.state.services = Services(
        settings=settings, engine=engine, sessions=make_session_factory(engine), templates=_templates(),
        http=unused, platform_keys=unused, signing_keys=unused, grading=unused, frame_ancestors=unused,
        catalog=unused)
    return app


@dataclass
class Tool:
    url: str
    settings: Settings
    engine: Engine
    client: httpx.Client

    def register(self, platform: FakePlatform, token: str = TOKEN, configuration_url: str | None = None
                 ) -> httpx.Response:
        params = {"openid_configuration": configuration_url or platform.configuration_url,
                  "registration_token": token}
        return self.client.get("/lti/register", params=params)

    def stored(self) -> list[dict[str, Any]]:
        with make_session_factory(self.engine)() as session:
            deployments = list_deployments(session)
            return [{"issuer": row.issuer, "client_id": row.client_id, "name": row.name,
                     "auth_login_url": row.auth_login_url, "auth_token_url": row.auth_token_url,
                     "key_set_url": row.key_set_url,
                     "deployments": [(d.deployment_id, d.status) for p, d in deployments if p.id == row.id]}
                    for row in list_platforms(session)]


@contextlib.contextmanager
def running_tool(settings: Settings, build: Callable[[Settings], ASGIApp]) -> Iterator[Tool]:
    """Our app on its own loopback port, with settings.base_url set to that port."""
    upgrade_database(settings.database_url)
    holder: dict[str, Settings] = {}

    def build_with_url(base_url: str) -> ASGIApp:
        holder["settings"] = dataclasses.replace(settings, base_url=base_url)
        return build(holder["settings"])

    with running_server(build_with_url) as url:
        engine = make_engine(settings.database_url)
        try:
            with httpx.Client(base_url=url, timeout=30) as client:
                yield Tool(url, holder["settings"], engine, client)
        finally:
            engine.dispose()


@pytest.fixture
def tool(settings: Settings) -> Iterator[Tool]:
    with running_tool(settings, registration_app) as running:
        yield running


# --- the cases ---------------------------------------------------------------------------------------------------


def test_canvas_registration(tool: Tool, platform: FakePlatform) -> None:
    page = tool.register(platform)

    assert page.status_code == 200, page.text
    assert "org.imsglobal.lti.close" in page.text and "window.opener || window.parent" in page.text
    policy = page.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy)
    assert nonce and f'<script nonce="{nonce.group(1)}">' in page.text
    assert "frame-ancestors 'self' https: http:" in policy  # the LMS frames this page before it is registered
    assert "Test University" in page.text and platform.client_id in page.text
    assert page.headers["cache-control"] == "no-store"
    assert tool.stored() == [{
        "issuer": platform.url, "client_id": "10000000000001", "name": "Test University",
        "auth_login_url": f"{platform.url}/api/lti/authorize_redirect",
        "auth_token_url": f"{platform.url}/login/oauth2/token",
        "key_set_url": f"{platform.url}/api/lti/security/jwks",
        "deployments": [],
    }]

    assert platform.configuration_headers[0]["authorization"] == f"Bearer {TOKEN}"
    assert platform.registration_headers[0]["authorization"] == f"Bearer {TOKEN}"
    assert platform.registration_headers[0]["content-type"] == "application/json"
    (sent,) = platform.registrations
    assert sent["application_type"] == "web"
    assert sent["grant_types"] == ["client_credentials", "implicit"]
    assert sent["response_types"] == ["id_token"]
    assert sent["token_endpoint_auth_method"] == "private_key_jwt"
    assert sent["client_name"] == "LTI Marketplace"
    assert sent["initiate_login_uri"] == f"{tool.url}/lti/login"
    assert sent["redirect_uris"] == [f"{tool.url}/lti/launch"]
    assert sent["jwks_uri"] == f"{tool.url}/lti/jwks"
    assert sent["logo_uri"] == f"{tool.url}/static/icon.svg"
    assert sent["scope"].split() == list(WANTED_SCOPES)  # Canvas's own extra scopes are not requested
    configuration = sent[TOOL_CONFIGURATION]
    assert configuration["domain"] == urlsplit(tool.url).netloc
    assert configuration["target_link_uri"] == f"{tool.url}/lti/launch"
    assert configuration["claims"] == ["iss", "sub", "name", "given_name", "family_name", "email"]
    assert configuration[CANVAS_PRIVACY_LEVEL] == "public"
    assert configuration[CANVAS_TOOL_ID] == "lti-marketplace"
    *deep_linking, resource_link = configuration["messages"]
    assert [message["placements"] for message in deep_linking] == [[name] for name in RULES["placements"]]
    for message in deep_linking:
        assert message["type"] == "LtiDeepLinkingRequest"
        assert message["target_link_uri"] == f"{tool.url}/lti/launch"
        assert message["icon_uri"] == f"{tool.url}/static/icon.svg"
    assert resource_link["type"] == "LtiResourceLinkRequest"
    assert resource_link["target_link_uri"] == f"{tool.url}/lti/launch"


def test_moodle_gets_spec_keys_only_and_its_deployment_waits_for_approval(tool: Tool, platform: FakePlatform) -> None:
    platform.family = "moodle"
    platform.token = ""  # Moodle may start a registration without a token
    platform.deployment_id = "1"
    platform.deployment_at = "tool_configuration"  # Moodle's shape
    platform.client_id = "aBc123"
    platform.scopes_supported = [scope for scope in WANTED_SCOPES if scope != NRPS]

    page = tool.register(platform, token="")

    assert page.status_code == 200, page.text
    assert "authorization" not in platform.configuration_headers[0]
    assert "authorization" not in platform.registration_headers[0]
    (sent,) = platform.registrations
    assert "canvas.instructure.com" not in json.dumps(sent)
    assert all("placements" not in message for message in sent[TOOL_CONFIGURATION]["messages"])
    # One generic deep-linking message, named after the tool (Moodle shows it as the tool's name).
    (deep_linking,) = [m for m in sent[TOOL_CONFIGURATION]["messages"] if m["type"] == "LtiDeepLinkingRequest"]
    assert deep_linking["label"] == CLIENT_NAME and "custom_parameters" not in deep_linking
    assert NRPS not in sent["scope"].split() and len(sent["scope"].split()) == len(WANTED_SCOPES) - 1
    (stored,) = tool.stored()
    assert stored["client_id"] == "aBc123" and stored["deployments"] == [("1", "pending")]
    assert stored["name"] == f"moodle ({urlsplit(platform.url).netloc})"


def test_platform_error_status_is_shown_its_body_never_and_nothing_is_stored(tool: Tool,
                                                                           platform: FakePlatform) -> None:
    platform.register_status = 422
    platform.register_error = json.dumps({"errors": [{"field": "scopes", "message": "cannot contain <b>openid</b>"}]})

    page = tool.register(platform)

    assert page.status_code == 502
    assert "refused the registration (HTTP 422)" in page.text
    # The body is never echoed: the URL came from whoever opened the page (server-side request forgery).
    assert "HTTP status 422" in page.text and "(application/json)" in page.text and "<pre>" not in page.text
    assert "openid" not in page.text.split("</h1>", 1)[1]
    assert "Traceback" not in page.text
    assert tool.stored() == []


def test_bad_token_gives_a_clear_page(tool: Tool, platform: FakePlatform) -> None:
    page = tool.register(platform, token="expired")

    assert page.status_code == 502
    assert "refused the registration token" in page.text and "start the registration again" in page.text
    assert "HTTP status 401" in page.text and "Invalid registration token" not in page.text
    assert platform.registrations == [] and tool.stored() == []


@pytest.mark.parametrize("query", [{}, {"openid_configuration": ""}, {"registration_token": TOKEN}])
def test_missing_openid_configuration_is_400(tool: Tool, query: dict[str, str]) -> None:
    page = tool.client.get("/lti/register", params=query)
    assert page.status_code == 400
    assert "openid_configuration parameter is missing" in page.text


@pytest.mark.parametrize("url", ["ftp://lms.example.edu/config", "javascript:alert(1)", "not a url", "http://[::1"])
def test_a_configuration_url_that_is_not_http_is_400(tool: Tool, url: str) -> None:
    page = tool.client.get("/lti/register", params={"openid_configuration": url, "registration_token": TOKEN})
    assert page.status_code == 400
    assert "must be an http(s) URL" in page.text and "<script" not in page.text.split("</header>")[1]


def test_configuration_not_hosted_by_its_issuer_is_refused(tool: Tool, platform: FakePlatform) -> None:
    platform.issuer = "https://canvas.example.edu"

    page = tool.register(platform)

    assert page.status_code == 502
    assert "names the issuer https://canvas.example.edu" in page.text
    assert "requires the configuration to be hosted by the issuer" in page.text
    assert platform.registrations == [] and tool.stored() == []


def test_second_registration_of_the_same_client_is_refused_and_the_first_kept(
        tool: Tool, platform: FakePlatform) -> None:
    assert tool.register(platform).status_code == 200
    first = tool.stored()

    again = tool.register(platform)

    assert again.status_code == 409
    assert "already registered" in again.text and "existing registration was kept" in again.text
    assert tool.stored() == first and len(platform.registrations) == 2


def test_unreachable_platform(tool: Tool) -> None:
    with socket.socket() as probe:  # bound, never listening: refused, and no other process can take the port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        page = tool.client.get("/lti/register", params={
            "openid_configuration": f"http://127.0.0.1:{port}/.well-known/openid-configuration"})
    assert page.status_code == 502
    assert "could not reach the platform" in page.text and "HTTP status" not in page.text


def test_platform_body_is_truncated() -> None:
    error = DynamicRegistrationError("failed", 500, "x" * (MAX_BODY_SHOWN + 10))
    assert error.platform_body == "x" * MAX_BODY_SHOWN and error.platform_body_truncated
    assert DynamicRegistrationError("failed", 500, "short").platform_body_truncated is False


def test_the_route_in_the_real_app(settings: Settings, platform: FakePlatform) -> None:
    """Once app.py serves /lti/register, the whole app (headers, CSP nonce) registers too."""
    upgrade_database(settings.database_url)
    probe = create_app(settings)
    wired = any(getattr(route, "path", None) == "/lti/register" for route in probe.routes)
    services(probe).engine.dispose()
    if not wired:
        pytest.skip("marketplace.app does not route /lti/register yet")
    with running_tool(settings, create_app) as running:
        page = running.register(platform)
        assert page.status_code == 200, page.text
        assert "org.imsglobal.lti.close" in page.text
        assert running.stored()[0]["client_id"] == platform.client_id


# --- Canvas shapes (issue 12, part 4; tests/fixtures/canvas-registration.json) ------------------------------------


def canvas_payload(settings: Settings) -> dict[str, Any]:
    configuration = {"issuer": "https://canvas.example.edu",
                     "https://purl.imsglobal.org/spec/lti-platform-configuration": {"product_family_code": "canvas"}}
    return tool_registration_payload(dataclasses.replace(settings, base_url="https://tool.example"), configuration)


def deep_linking_messages(payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The Canvas deep-linking messages by placement; each must name exactly one."""
    messages = [m for m in payload[TOOL_CONFIGURATION]["messages"] if m["type"] == "LtiDeepLinkingRequest"]
    assert all(len(message["placements"]) == 1 for message in messages), messages
    return {message["placements"][0]: message for message in messages}


def test_canvas_gets_one_message_per_placement_with_its_own_menu_text_and_size(settings: Settings) -> None:
    messages = deep_linking_messages(canvas_payload(settings))
    assert list(messages) == RULES["placements"] == list(CANVAS_PLACEMENTS)
    json_placements = {entry["placement"]: entry for entry in
                       canvas_configuration("https://tool.example")["extensions"][0]["settings"]["placements"]}
    for placement, message in messages.items():
        assert set(RULES["message_keys_required"]) <= set(message), placement
        assert message["target_link_uri"] == "https://tool.example/lti/launch"
        # The same menu text and dialog size as the JSON configuration: one table, whichever way Canvas installs.
        assert message["label"] == json_placements[placement]["text"] == PLACEMENTS[placement].text
        width_key, height_key = RULES["launch_size_keys"]
        assert (width_key, height_key) == (CANVAS_LAUNCH_WIDTH, CANVAS_LAUNCH_HEIGHT)
        assert message[width_key] == json_placements[placement]["selection_width"]
        assert message[height_key] == json_placements[placement]["selection_height"]


def test_canvas_menu_texts_are_distinct_and_say_what_the_click_does(settings: Settings) -> None:
    labels = [message["label"] for message in deep_linking_messages(canvas_payload(settings)).values()]
    assert len(set(labels)) == len(labels)
    assert not set(labels) & set(RULES["generic_labels_refused"])
    # A teacher reads a menu item as an action: each text starts with its verb.
    assert [label.split()[0] for label in labels] == ["Insert", "Add", "Assign", "Submit"]
    assert all(len(label) <= 30 for label in labels)  # Canvas menus cut long texts


def test_the_editor_button_keeps_the_selection_prefill_of_the_json_configuration(settings: Settings) -> None:
    messages = deep_linking_messages(canvas_payload(settings))
    json_editor = next(entry for entry in canvas_configuration("https://tool.example")["extensions"][0]["settings"]
                       ["placements"] if entry["placement"] == "editor_button")
    for placement, message in messages.items():
        expected = RULES["custom_parameters_by_placement"].get(placement)
        assert message.get("custom_parameters") == expected, placement
    assert messages["editor_button"]["custom_parameters"] == json_editor["custom_fields"]
    assert CANVAS["registration_response"][TOOL_CONFIGURATION]["messages"][0]["custom_parameters"] == \
        json_editor["custom_fields"]


ENDPOINTS = {"authorization_endpoint": "https://canvas.example.edu/api/lti/authorize_redirect",
             "token_endpoint": "https://canvas.example.edu/login/oauth2/token",
             "jwks_uri": "https://canvas.example.edu/api/lti/security/jwks",
             "registration_endpoint": "https://canvas.example.edu/api/lti/registrations"}


def read(answer: dict[str, Any]) -> RegisteredPlatform:
    return _read_registration(200, json.dumps(answer), "https://canvas.example.edu", ENDPOINTS, {})


def test_the_deployment_id_is_read_at_the_top_level_as_canvas_answers_then_inside_the_tool_configuration() -> None:
    answer = copy_of(CANVAS["registration_response"])
    assert "deployment_id" not in answer[TOOL_CONFIGURATION]
    registered = read(answer)
    assert registered.client_id == "10000000000042"
    assert registered.deployment_id == "106:8865aa05b4b79b64a91a86042e43af5ea8ae79eb"

    older = copy_of(answer)
    older[TOOL_CONFIGURATION]["deployment_id"] = older.pop("deployment_id")
    assert read(older).deployment_id == registered.deployment_id

    both = copy_of(answer)
    both[TOOL_CONFIGURATION]["deployment_id"] = "older-copy"
    assert read(both).deployment_id == registered.deployment_id  # the current shape wins

    del answer["deployment_id"]
    assert read(answer).deployment_id is None  # then the first launch brings it, pending


def copy_of(value: dict[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(json.dumps(value))
    return copied


def test_a_canvas_deployment_is_stored_pending_at_once_and_shown(tool: Tool, platform: FakePlatform) -> None:
    platform.deployment_id = CANVAS["registration_response"]["deployment_id"]

    page = tool.register(platform)

    assert page.status_code == 200, page.text
    assert f"Deployment <code>{platform.deployment_id}</code> is waiting for approval" in page.text
    (stored,) = tool.stored()
    assert stored["deployments"] == [(platform.deployment_id, "pending")]


@pytest.mark.parametrize(("value", "at"), [
    ("", "top"), ("   ", "top"), (True, "top"), ([], "top"), ({"id": "1"}, "top"), (1.5, "top"),
    ("x" * 256, "top"), ("", "tool_configuration"), ("x" * 256, "tool_configuration"),
])
def test_a_bad_deployment_id_refuses_the_registration_and_stores_nothing(tool: Tool, platform: FakePlatform,
                                                                         value: Any, at: str) -> None:
    platform.deployment_id = value
    platform.deployment_at = at

    page = tool.register(platform)

    assert page.status_code == 502, page.text
    assert "deployment_id" in page.text and "nothing was stored" in page.text
    assert tool.stored() == []


def test_a_numeric_deployment_id_is_kept_as_text(tool: Tool, platform: FakePlatform) -> None:
    platform.deployment_id = 106
    assert tool.register(platform).status_code == 200
    assert tool.stored()[0]["deployments"] == [("106", "pending")]


def test_approving_the_platform_approves_the_deployment_its_registration_brought(tool: Tool,
                                                                                platform: FakePlatform) -> None:
    platform.deployment_id = CANVAS["registration_response"]["deployment_id"]
    assert tool.register(platform).status_code == 200
    with make_session_factory(tool.engine)() as session:
        row = find_platform(session, platform.url, platform.client_id, include_pending=True)
        assert row is not None
        assert [d.deployment_id for d in approve_platform(session, row)] == [platform.deployment_id]
        session.commit()
    assert tool.stored()[0]["deployments"] == [(platform.deployment_id, "active")]


def test_a_registered_deployment_launches_only_once_the_platform_is_approved(lti: LtiEnvironment) -> None:
    """Over the real login and launch: the deployment stored by the registration is "waiting for approval"
    (not unknown) until the administrator approves the platform, and then launches."""
    peer = lti.peer
    with lti.sessions() as session:
        remove_platform(session, peer.issuer, peer.client_id)  # the fixture's approved registration
        store_registration(session, RegisteredPlatform(
            issuer=peer.issuer, client_id=peer.client_id, auth_login_url=f"{peer.issuer}/auth",
            auth_token_url=f"{peer.issuer}/token", key_set_url=f"{peer.issuer}/jwks", name="Loopback LMS",
            deployment_id=peer.deployment_id), allow_http=True)
        session.commit()

    refused = lti.launch()

    assert refused.status_code == 403, refused.text[:500]
    assert refused.headers.get("x-lti-check") == "login_pending_platform"
    assert (f"This installation of the tool (deployment {peer.deployment_id} of Loopback LMS) is waiting for "
            "approval.") in refused.text
    assert "not registered" not in refused.text and "marketplace platform approve" in refused.text
    with lti.sessions() as session:
        row = find_platform(session, peer.issuer, peer.client_id, include_pending=True)
        assert row is not None
        approve_platform(session, row)
        session.commit()

    page = lti.launch()

    assert page.status_code == 200, page.text[:500]
    assert "Welcome, Ada Teacher" in page.text
