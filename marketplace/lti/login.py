"""OIDC third-party-initiated login: PyLTI1p3 builds the auth request, our database keeps state and nonce.

The state and nonce are stored server-side with a TTL (a launch can use them once), and the browser is
bound to the login twice over where it allows: a `SameSite=None; Secure; Partitioned` cookie, and, when
the platform offers `lti_storage_target`, the LTI client-side postMessage storage (done by the page).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pylti1p3.cookie import CookieService
from pylti1p3.exception import OIDCException
from pylti1p3.oidc_login import OIDCLogin
from pylti1p3.redirect import Redirect
from sqlalchemy import bindparam, delete, insert
from sqlalchemy.orm import Session, sessionmaker

from marketplace.clock import utc_now
from marketplace.logs import bind_trace
from marketplace.lti.errors import refused
from marketplace.lti.launch import FormRequest
from marketplace.lti.tool_config import DatabaseToolConf
from marketplace.platform_urls import PlatformUrlError, normalise_url, origin_of
from marketplace.store.models import LoginStateRow, table_of
from marketplace.store.registrations import find_deployment, find_platform, platforms_of_issuer

LOGIN_TTL = timedelta(minutes=10)
STATE_COOKIE_PREFIX = "mkt-state-"
MAX_PARAM_CHARS = 8192


class _UrlRedirect(Redirect[str]):
    def __init__(self, location: str) -> None:
        self._location = location

    def do_redirect(self) -> str:
        return self._location

    def do_js_redirect(self) -> str:
        return self._location

    def set_redirect_url(self, location: str) -> None:
        self._location = location

    def get_redirect_url(self) -> str:
        return self._location


class _Recorder(CookieService):
    """Collects what PyLTI1p3 wants remembered (state as a cookie, nonce in a session) for our own storage."""

    def __init__(self) -> None:
        self.state: str | None = None
        self.nonce: str | None = None

    def get_cookie(self, name: str) -> str | None:
        return None

    def set_cookie(self, name: str, value: str | int, exp: int | None = 3600) -> None:
        self.state = str(value)

    def save_nonce(self, nonce: str) -> None:
        self.nonce = nonce

    def save_state_params(self, state: str, params: dict[str, object]) -> None:
        """Nothing to keep: the state row is enough."""


class _Login(OIDCLogin[FormRequest, DatabaseToolConf, Any, Any, str]):
    def get_redirect(self, url: str) -> Redirect[str]:
        return _UrlRedirect(url)

    def _get_uuid(self) -> str:
        return secrets.token_urlsafe(24)

    def _generate_nonce(self) -> str:
        return secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class LoginStart:
    """Where to send the browser, and what to remember about it."""

    redirect_url: str
    state: str
    nonce: str
    storage_target: str | None
    auth_origin: str


_LOGIN_STATES = table_of(LoginStateRow)
# Every login writes these two; built once on the table (a Core statement, no ORM bulk-write planning per call).
_FORGET_EXPIRED_LOGINS = delete(_LOGIN_STATES).where(_LOGIN_STATES.c.expires_at < bindparam("before"))
_STORE_LOGIN = insert(_LOGIN_STATES)


def start_login(session: Session, params: dict[str, str], *, base_url: str, secure: bool) -> LoginStart:
    """Validate a login initiation and record its state and nonce (the caller commits)."""
    if any(len(value) > MAX_PARAM_CHARS for value in params.values()):
        raise refused("login_too_large", "The login request is too large.")
    issuer = params.get("iss", "")
    if not issuer:
        raise refused("login_missing_iss", "The login request does not say which platform it comes from (no iss).")
    if not params.get("login_hint"):
        raise refused("login_missing_hint", "The login request has no login_hint.")
    client_id = params.get("client_id") or None
    platform = find_platform(session, issuer, client_id)
    if platform is None:
        if platforms_of_issuer(session, issuer) and not client_id:
            raise refused("login_ambiguous", f"The platform {issuer} has several registrations here and the login "
                          "request does not say which (no client_id).")
        pending = find_platform(session, issuer, client_id, include_pending=True)
        if pending is not None:
            # Registered (dynamically) but not approved yet: say so, as a pending deployment does at launch,
            # rather than "not registered", which would send the administrator to register it again.
            deployment = find_deployment(session, pending, params.get("lti_deployment_id", ""))
            which = f"deployment {deployment.deployment_id} of {pending.name}" if deployment else pending.name
            raise refused("login_pending_platform", f"This installation of the tool ({which}) is waiting for "
                          "approval.", status=403,
                          advice="An administrator must approve it: marketplace platform approve --issuer "
                                 f"{pending.issuer} --client-id {pending.client_id}")
        raise refused("login_unknown_platform", f"The platform {issuer} is not registered with this tool.",
                      advice="An administrator must register it first (marketplace platform add).")
    try:
        # Rows stored before URLs were validated at the door may hold anything: never redirect to it.
        auth_login_url = normalise_url(platform.auth_login_url, allow_http=True)
    except PlatformUrlError:
        raise refused("login_platform_url", f"The login URL registered for {issuer} is not a usable URL.",
                      advice="An administrator must register the platform again.") from None
    target = params.get("target_link_uri", "")
    if target and not target.startswith(base_url + "/"):
        raise refused("login_foreign_target", "The login request asks to launch a page that is not part of this tool.")
    launch_url = base_url + "/lti/launch"
    request = FormRequest({**params, "client_id": platform.client_id}, secure)
    recorder = _Recorder()
    login = _Login(request, DatabaseToolConf(session, known=[platform]), session_service=recorder,
                   cookie_service=recorder)
    try:
        redirect_url = login.get_redirect_object(launch_url).get_redirect_url()
    except OIDCException as error:
        raise refused("login_invalid", f"The login request is not valid: {error}") from None
    assert recorder.state is not None and recorder.nonce is not None  # noqa: S101 - PyLTI1p3 always sets both
    now = utc_now()
    # The two writes last and as plain statements (on SQLite the write lock is held from the first to the
    # commit). Housekeeping on the way: logins that were never completed are useless once expired.
    session.execute(_FORGET_EXPIRED_LOGINS, {"before": now - LOGIN_TTL})
    session.execute(_STORE_LOGIN, {
        "state": recorder.state, "nonce": recorder.nonce, "platform_id": platform.id,
        "target_link_uri": target or launch_url, "created_at": now, "expires_at": now + LOGIN_TTL})
    return LoginStart(
        redirect_url=redirect_url,
        state=recorder.state,
        nonce=recorder.nonce,
        storage_target=params.get("lti_storage_target") or None,
        auth_origin=origin_of(auth_login_url),
    )


def begin_login(sessions: sessionmaker[Session], params: dict[str, str], *, base_url: str, secure: bool) -> LoginStart:
    """`start_login` in a transaction of its own: the login state is stored before the browser is redirected."""
    with sessions() as session:
        start = start_login(session, params, base_url=base_url, secure=secure)
        session.commit()
    bind_trace(start.state)  # the launch this login begins is traced from here (marketplace/logs.py)
    return start
