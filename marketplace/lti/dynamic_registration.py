"""LTI Dynamic Registration (IMS LTI-DR 1.0), tool side: read the platform's configuration, register, store.

The platform opens our registration page with `openid_configuration` (a URL) and `registration_token`. We GET that
configuration, POST our client registration to its `registration_endpoint`, and keep the client_id it assigns.
Framework-free: the web view in `marketplace.web.registration_views` drives it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import SplitResult, urlsplit

import httpx
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from marketplace.lti import claims
from marketplace.lti.canvas_config import PLACEMENTS
from marketplace.outbound import DestinationRefused
from marketplace.settings import Settings
from marketplace.store.models import PlatformRow
from marketplace.store.registrations import (
    PENDING,
    RegistrationError,
    add_deployment,
    add_platform,
    find_platform,
    pending_platform_count,
)

TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
CANVAS_ACCOUNT_NAME = "https://canvas.instructure.com/lti/account_name"
CANVAS_PRIVACY_LEVEL = "https://canvas.instructure.com/lti/privacy_level"
CANVAS_TOOL_ID = "https://canvas.instructure.com/lti/tool_id"
# Canvas sizes a deep-linking placement's dialog from these message keys (its selection_width/height).
CANVAS_LAUNCH_WIDTH = "https://canvas.instructure.com/lti/launch_width"
CANVAS_LAUNCH_HEIGHT = "https://canvas.instructure.com/lti/launch_height"

CLIENT_NAME = "LTI Marketplace"
TOOL_ID = "lti-marketplace"
DESCRIPTION = "Find open educational resources and add them to your course as links, embeds or assignments."
CLAIMS = ("iss", "sub", "name", "given_name", "family_name", "email")
# The same scopes as the Canvas developer key JSON (canvas_config.py).
WANTED_SCOPES = (*claims.AGS_SCOPES, claims.NRPS_SCOPE, claims.NOTICE_SCOPE)
CANVAS_PLACEMENTS = tuple(PLACEMENTS)
REQUIRED_ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri", "registration_endpoint")

TIMEOUT = httpx.Timeout(15.0, connect=5.0)
MAX_BODY_SHOWN = 2_000
# A configuration or registration answer is a few kilobytes; refuse to buffer an endless one.
MAX_RESPONSE_BYTES = 1_000_000
# Column sizes of PlatformRow/DeploymentRow: checked here so PostgreSQL never rejects the insert.
MAX_ISSUER = 500
MAX_CLIENT_ID = 255
MAX_URL = 2_000
MAX_NAME = 200
MAX_DEPLOYMENT_ID = 255

MISSING_CONFIGURATION = ("The openid_configuration parameter is missing. Start the registration from your LMS, "
                         "which adds it to this address.")

ErrorKind = Literal["input", "platform", "conflict", "full", "refused"]
# Registrations waiting for approval, all clients together: enough for a real roll-out, not for a flood.
MAX_PENDING_PLATFORMS = 20


class DynamicRegistrationError(Exception):
    """Registration failed: a sentence for the administrator plus what the platform answered, if anything."""

    def __init__(self, message: str, platform_status: int | None = None, platform_body: str | None = None,
                 *, kind: ErrorKind = "platform") -> None:
        super().__init__(message)
        self.message = message
        self.platform_status = platform_status
        self.platform_body_truncated = platform_body is not None and len(platform_body) > MAX_BODY_SHOWN
        self.platform_body = platform_body[:MAX_BODY_SHOWN] if platform_body is not None else None
        # input: our page was called wrongly; platform: the platform failed or refused; conflict: already stored.
        self.kind: ErrorKind = kind
        self.platform_content_type: str | None = None


@dataclass(frozen=True, slots=True)
class RegisteredPlatform:
    """What a successful registration gives us to store."""

    issuer: str
    client_id: str
    auth_login_url: str
    auth_token_url: str
    key_set_url: str
    name: str | None
    deployment_id: str | None


def tool_registration_payload(settings: Settings, platform_configuration: Mapping[str, Any]) -> dict[str, Any]:
    """The client registration JSON we POST to the platform's registration_endpoint."""
    base = settings.base_url.rstrip("/")
    launch_url = f"{base}/lti/launch"
    icon_url = f"{base}/static/icon.svg"
    canvas = product_family(platform_configuration) == "canvas"

    deep_linking: list[dict[str, Any]]
    if canvas:
        # One message per placement: Canvas shows a message's label as the menu text of each placement it
        # lists, so a single message would name every menu "LTI Marketplace".
        deep_linking = [_canvas_message(placement, launch_url, icon_url) for placement in CANVAS_PLACEMENTS]
    else:
        # Placement names are Canvas's own; other platforms get the spec keys only.
        deep_linking = [{"type": claims.DEEP_LINKING_REQUEST, "target_link_uri": launch_url, "label": CLIENT_NAME,
                         "icon_uri": icon_url}]
    resource_link: dict[str, Any] = {"type": "LtiResourceLinkRequest", "target_link_uri": launch_url,
                                     "label": CLIENT_NAME}

    tool_configuration: dict[str, Any] = {
        "domain": _host_and_port(base),
        "target_link_uri": launch_url,
        "description": DESCRIPTION,
        "claims": list(CLAIMS),
        "messages": [*deep_linking, resource_link],
    }
    if canvas:
        # Canvas defaults to "anonymous", which would drop the name and email claims we ask for.
        tool_configuration[CANVAS_PRIVACY_LEVEL] = "public"
        tool_configuration[CANVAS_TOOL_ID] = TOOL_ID

    return {
        "application_type": "web",
        "grant_types": ["client_credentials", "implicit"],
        "response_types": ["id_token"],
        "initiate_login_uri": f"{base}/lti/login",
        "redirect_uris": [launch_url],
        "client_name": CLIENT_NAME,
        "jwks_uri": f"{base}/lti/jwks",
        "logo_uri": icon_url,
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": " ".join(_scopes(platform_configuration)),
        TOOL_CONFIGURATION: tool_configuration,
    }


def _canvas_message(placement: str, launch_url: str, icon_url: str) -> dict[str, Any]:
    """The deep-linking message of one Canvas placement, from the table the JSON configuration also uses."""
    settings = PLACEMENTS[placement]
    message: dict[str, Any] = {
        "type": claims.DEEP_LINKING_REQUEST,
        "target_link_uri": launch_url,
        "label": settings.text,
        "icon_uri": icon_url,
        "placements": [placement],
        CANVAS_LAUNCH_WIDTH: settings.width,
        CANVAS_LAUNCH_HEIGHT: settings.height,
    }
    if settings.custom:
        # The editor's selection prefill: without it a registration by URL would lose what the JSON keeps.
        message["custom_parameters"] = dict(settings.custom)
    return message


def product_family(platform_configuration: Mapping[str, Any]) -> str:
    """The platform's product_family_code in lower case ("canvas", "moodle"), or "" when it gives none."""
    lti = platform_configuration.get(PLATFORM_CONFIGURATION)
    code = lti.get("product_family_code") if isinstance(lti, Mapping) else None
    return code.strip().lower() if isinstance(code, str) else ""


async def register_with_platform(openid_configuration_url: str, registration_token: str, settings: Settings,
                                 http: httpx.AsyncClient) -> RegisteredPlatform:
    """Fetch the platform's configuration, register the tool there and return what to store."""
    configuration_url = _checked_configuration_url(openid_configuration_url, settings)
    token = registration_token.strip()
    headers = {"Accept": "application/json"}
    if token:  # Moodle may start a registration without a token; an empty Bearer header is invalid.
        headers["Authorization"] = f"Bearer {token}"

    status, body, content_type = await _send(http, "GET", configuration_url, headers, None, "its configuration")
    with _answer_type(content_type):
        issuer, endpoints, configuration = _read_configuration(status, body, configuration_url)

    payload = tool_registration_payload(settings, configuration)
    post_headers = {**headers, "Content-Type": "application/json"}
    status, body, content_type = await _send(http, "POST", endpoints["registration_endpoint"], post_headers,
                                             json.dumps(payload).encode("utf-8"), "the registration")
    with _answer_type(content_type):
        return _read_registration(status, body, issuer, endpoints, configuration)


@contextlib.contextmanager
def _answer_type(content_type: str | None) -> Iterator[None]:
    """Tell a registration error the content type of the platform answer it is about (shown, not the body)."""
    try:
        yield
    except DynamicRegistrationError as error:
        error.platform_content_type = error.platform_content_type or (content_type or "")[:100] or None
        raise


def _read_configuration(status: int, body: str,
                        configuration_url: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    if status in (401, 403):
        raise DynamicRegistrationError(
            f"The platform refused the registration token when we asked for its configuration (HTTP {status}). "
            "The token may have expired (Canvas tokens last one hour) or been used already: start the "
            "registration again from your LMS.", status, body)
    if not 200 <= status < 300:
        raise DynamicRegistrationError(
            f"The platform answered HTTP {status} when we asked for its configuration at "
            f"{origin_text(configuration_url)}. Check that the registration was started from your LMS and try "
            "again.", status, body)
    configuration = _json_object(body, status, "its configuration")
    issuer, endpoints = _checked_configuration(configuration, configuration_url, status, body)
    return issuer, endpoints, configuration


def _read_registration(status: int, body: str, issuer: str, endpoints: dict[str, str],
                       configuration: dict[str, Any]) -> RegisteredPlatform:
    if not 200 <= status < 300:
        reason = ("refused the registration token" if status in (401, 403) else "refused the registration")
        raise DynamicRegistrationError(
            f"The platform {reason} (HTTP {status}). An LMS administrator may need to "
            "allow dynamic registration or start it again from the LMS.", status, body)
    registration = _json_object(body, status, "the registration")
    client_id = _text_value(registration.get("client_id"))
    if not client_id:
        raise DynamicRegistrationError(
            "The platform accepted the registration but did not send a client_id, so we cannot recognise its "
            "launches. Check the tool's entry in your LMS, then register again.", status, body)
    if len(client_id) > MAX_CLIENT_ID:
        raise DynamicRegistrationError(
            f"The client_id the platform assigned is longer than {MAX_CLIENT_ID} characters.", status, body)
    deployment_id = _deployment_id(registration, status, body)

    return RegisteredPlatform(
        issuer=issuer,
        client_id=client_id,
        auth_login_url=endpoints["authorization_endpoint"],
        auth_token_url=endpoints["token_endpoint"],
        key_set_url=endpoints["jwks_uri"],
        name=_platform_name(configuration, issuer),
        deployment_id=deployment_id,
    )


_JSON_KINDS: dict[type, str] = {bool: "true or false", str: "empty text", float: "a decimal number", list: "a list",
                                dict: "an object"}


def _deployment_id(registration: Mapping[str, Any], status: int, body: str) -> str | None:
    """The deployment the platform created for us, or None when it names none (the first launch will).

    Canvas's current code answers it at the top level of the registration; older Canvas and other platforms
    put it inside the echoed tool configuration. A value that is there but unusable refuses the registration:
    storing the platform without it would leave its first launch "unknown" for no visible reason.
    """
    tool_configuration = registration.get(TOOL_CONFIGURATION)
    for where in (registration, tool_configuration if isinstance(tool_configuration, Mapping) else {}):
        value = where.get("deployment_id")
        if value is None:
            continue
        deployment_id = _text_value(value)
        if deployment_id is None:
            # Its kind only, never the value: the registration endpoint may be any server this one reaches.
            raise DynamicRegistrationError(
                f"The platform accepted the registration but sent a deployment_id that is not an identifier "
                f"({_JSON_KINDS.get(type(value), 'an unexpected value')}), so nothing was stored. Check the "
                "tool's entry in your LMS, then register again.", status, body)
        if len(deployment_id) > MAX_DEPLOYMENT_ID:
            raise DynamicRegistrationError(
                f"The deployment_id the platform assigned is longer than {MAX_DEPLOYMENT_ID} characters, so "
                "nothing was stored.", status, body)
        return deployment_id
    return None


def store_registration(session: Session, registered: RegisteredPlatform, *, allow_http: bool = False) -> PlatformRow:
    """Add the platform, pending, (and its deployment, if the platform gave one) to the session; the caller
    commits. Anyone can reach /lti/register, so nothing it brings in is trusted before an administrator
    approves it: a pending platform appears in no security header, no redirect and no launch."""
    if find_platform(session, registered.issuer, registered.client_id, include_pending=True) is not None:
        raise already_registered(registered)
    if pending_platform_count(session) >= MAX_PENDING_PLATFORMS:
        raise DynamicRegistrationError(
            f"{MAX_PENDING_PLATFORMS} registrations are already waiting for an administrator's approval, so no "
            "more are taken. Ask the marketplace's administrator to approve or remove them "
            "(`marketplace platform list`).", kind="full")
    try:
        row = add_platform(
            session,
            issuer=registered.issuer,
            client_id=registered.client_id,
            auth_login_url=registered.auth_login_url,
            auth_token_url=registered.auth_token_url,
            key_set_url=registered.key_set_url,
            name=registered.name or registered.issuer,
            status=PENDING,
            allow_http=allow_http,
        )
        if registered.deployment_id:
            # Stored now, so its launches are recognised ("waiting for approval", not "unknown") before the
            # first one. Anyone who can reach /lti/register can run this flow, so it stays pending until an
            # administrator approves the platform, which approves this deployment with it (approve_platform).
            add_deployment(session, row, registered.deployment_id, status=PENDING)
    except RegistrationError as error:
        raise DynamicRegistrationError(f"The registration could not be stored: {error}") from error
    return row


def already_registered(registered: RegisteredPlatform) -> DynamicRegistrationError:
    """The error for a second registration of the same issuer and client_id."""
    return DynamicRegistrationError(
        f"The platform {registered.issuer} with client_id {registered.client_id} is already registered with "
        f"{CLIENT_NAME}; the existing registration was kept and nothing was changed here. If your LMS now lists "
        "the tool twice, delete the new entry there.", kind="conflict")


def _checked_configuration_url(url: str, settings: Settings) -> str:
    url = url.strip()
    if not url:
        raise DynamicRegistrationError(MISSING_CONFIGURATION, kind="input")
    parts = _split(url)
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise DynamicRegistrationError(
            f"The openid_configuration parameter must be an http(s) URL, not {url[:200]!r}. Start the "
            "registration from your LMS, which fills it in.", kind="input")
    if settings.is_production and parts.scheme != "https":
        # The registration token travels with this request; never send it in clear text from production.
        raise DynamicRegistrationError(
            "The openid_configuration URL must use https when the marketplace runs in production.", kind="input")
    if len(url) > MAX_URL:
        raise DynamicRegistrationError(
            f"The openid_configuration URL is longer than {MAX_URL} characters.", kind="input")
    return url


def _checked_configuration(configuration: Mapping[str, Any], configuration_url: str, status: int,
                           body: str) -> tuple[str, dict[str, str]]:
    """The issuer and the endpoints, after the checks LTI-DR asks of the tool."""
    issuer = configuration.get("issuer")
    if not isinstance(issuer, str) or not _is_http_url(issuer):
        raise DynamicRegistrationError(
            "The platform's configuration has no valid issuer (an http(s) URL), so it cannot be registered.",
            status, body)
    if len(issuer) > MAX_ISSUER:
        raise DynamicRegistrationError(
            f"The platform's issuer is longer than {MAX_ISSUER} characters.", status, body)
    # LTI-DR: the configuration must be served by the issuer itself; otherwise any server could claim to be it.
    if _origin(issuer) != _origin(configuration_url):
        raise DynamicRegistrationError(
            f"The configuration was served from {origin_text(configuration_url)}, but it names the issuer "
            f"{issuer}. The registration specification requires the configuration to be hosted by the issuer, "
            "so it was refused. Start the registration from the LMS itself.", status, body)
    endpoints: dict[str, str] = {}
    missing = []
    for key in REQUIRED_ENDPOINTS:
        value = configuration.get(key)
        if isinstance(value, str) and _is_http_url(value) and len(value) <= MAX_URL:
            endpoints[key] = value
        else:
            missing.append(key)
    if missing:
        raise DynamicRegistrationError(
            f"The platform's configuration lacks a valid {', '.join(missing)} (http(s) URLs are required), so it "
            "cannot be registered dynamically. Register the tool manually instead.", status, body)
    return issuer, endpoints


async def _send(http: httpx.AsyncClient, method: str, url: str, headers: dict[str, str], content: bytes | None,
                what: str) -> tuple[int, str, str | None]:
    """Status, text and content type of one request to the platform; transport failures (and a destination
    that is not a public address) become DynamicRegistrationError."""
    try:
        async with http.stream(method, url, headers=headers, content=content, timeout=TIMEOUT,
                               follow_redirects=False) as response:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise DynamicRegistrationError(
                        f"The platform's answer about {what} is larger than {MAX_RESPONSE_BYTES:,} bytes; "
                        "refused.", response.status_code, None)
                chunks.append(chunk)
            return (response.status_code, _decode(b"".join(chunks), response.charset_encoding),
                    response.headers.get("content-type"))
    except httpx.TimeoutException as error:
        raise DynamicRegistrationError(
            f"The platform at {origin_text(url)} did not answer in time when we asked for {what}. "
            "Try again in a moment.") from error
    except DestinationRefused:
        raise DynamicRegistrationError(
            f"The platform at {origin_text(url)} is not at a public address, so the marketplace does not connect "
            "to it. Start the registration from an LMS reachable on the internet.", kind="input") from None
    except (httpx.HTTPError, httpx.InvalidURL) as error:
        raise DynamicRegistrationError(
            f"We could not reach the platform at {origin_text(url)} to ask for {what} "
            f"({type(error).__name__}). Check that the LMS is reachable from the marketplace server.") from error


def _decode(data: bytes, charset: str | None) -> str:
    try:
        return data.decode(charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know; JSON is UTF-8 anyway
        return data.decode("utf-8", errors="replace")


def _json_object(body: str, status: int, what: str) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise DynamicRegistrationError(
            f"The platform's answer about {what} is not a JSON object, so the registration cannot continue.",
            status, body)
    return value


def _scopes(platform_configuration: Mapping[str, Any]) -> list[str]:
    supported = platform_configuration.get("scopes_supported")
    if isinstance(supported, list):
        # Asking for a scope the platform does not offer makes some platforms refuse the whole registration.
        return [scope for scope in WANTED_SCOPES if scope in supported]
    return list(WANTED_SCOPES)


def _platform_name(configuration: Mapping[str, Any], issuer: str) -> str | None:
    lti = configuration.get(PLATFORM_CONFIGURATION)
    if not isinstance(lti, Mapping):
        return None
    account = lti.get(CANVAS_ACCOUNT_NAME)
    if isinstance(account, str) and account.strip():
        return account.strip()[:MAX_NAME]
    family = product_family(configuration)
    if family:
        return f"{family} ({urlsplit(issuer).netloc})"[:MAX_NAME]
    return None


def _text_value(value: object) -> str | None:
    # Identifiers are strings in the spec, but some platforms send numbers; bool is an int, and never an id.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _split(url: str) -> SplitResult | None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return None
    return parts


def _is_http_url(value: str) -> bool:
    parts = _split(value)
    return parts is not None and parts.scheme in ("http", "https") and bool(parts.hostname)


def _origin(url: str) -> tuple[str, str, int]:
    # Only called on URLs that passed _is_http_url, so the port parses.
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or (443 if scheme == "https" else 80)


def origin_text(url: str) -> str:
    """scheme://host[:port] of a URL, for messages and logs (the full URL may carry the registration token)."""
    parts = _split(url)
    if parts is None or not parts.scheme:
        return "(not a URL)"
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def _host_and_port(base_url: str) -> str:
    return urlsplit(base_url).netloc.rpartition("@")[2]


def save_registration(sessions: sessionmaker[Session], registered: RegisteredPlatform,
                      allow_http: bool) -> tuple[str, str, str]:
    """Store a registration in a transaction of its own; returns the stored name, issuer and client_id
    (plain values, not a detached row). A race with the same issuer and client_id is refused as a conflict."""
    with sessions() as session:
        try:  # the platform's row is flushed inside store_registration: the race can surface there too
            row = store_registration(session, registered, allow_http=allow_http)
            session.commit()
        except IntegrityError as error:
            # Two registrations of the same issuer and client_id raced; the other one won.
            session.rollback()
            raise already_registered(registered) from error
        return row.name, row.issuer, row.client_id
