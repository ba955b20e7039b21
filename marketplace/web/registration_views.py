"""GET /lti/register: LTI Dynamic Registration started by the platform (Canvas loads it in an iframe)."""

from __future__ import annotations

import logging

import httpx
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from marketplace.lti.dynamic_registration import (
    MISSING_CONFIGURATION,
    DynamicRegistrationError,
    RegisteredPlatform,
    already_registered,
    origin_text,
    register_with_platform,
    store_registration,
)
from marketplace.settings import Settings
from marketplace.web.security import content_security_policy

logger = logging.getLogger("marketplace.lti")

ERROR_STATUS = {"input": 400, "platform": 502, "conflict": 409}
# The registration answer is specific to one token and one platform; never let a cache keep it.
NO_STORE = {"Cache-Control": "no-store"}
FRAMERS = "https:"
USER_AGENT = "lti-marketplace"


async def register_page(request: Request) -> Response:
    """Register with the platform named by `openid_configuration`, store it, and tell the platform to close."""
    state = request.app.state
    settings: Settings = state.settings
    configuration_url = request.query_params.get("openid_configuration", "").strip()
    token = request.query_params.get("registration_token", "")
    if not configuration_url:
        return _error_page(request, DynamicRegistrationError(MISSING_CONFIGURATION, kind="input"))
    try:
        http = getattr(state, "http", None)
        if isinstance(http, httpx.AsyncClient):
            registered = await register_with_platform(configuration_url, token, settings, http)
        else:
            # The app's shared client (if any) is synchronous; this async one lives for this request only.
            async with httpx.AsyncClient(headers={"User-Agent": USER_AGENT}) as own_client:
                registered = await register_with_platform(configuration_url, token, settings, own_client)
        name, issuer, client_id = await run_in_threadpool(_store, state.sessions, registered)
    except DynamicRegistrationError as error:
        # Log the origin only: Canvas puts the registration token in the configuration URL's query.
        logger.warning("dynamic registration from %s failed (%s, platform status %s): %s",
                       origin_text(configuration_url), error.kind, error.platform_status, error.message)
        return _error_page(request, error)
    logger.info("dynamic registration stored: issuer %s, client_id %s", issuer, client_id)
    frame_ancestors = getattr(state, "frame_ancestors", None)
    if frame_ancestors is not None:
        frame_ancestors.invalidate()  # the new platform may frame launches right away, not in 30 s
    response: Response = state.templates.TemplateResponse(
        request,
        "lti_register_done.html",
        {
            "platform_name": name,
            "issuer": issuer,
            "client_id": client_id,
            "deployment_id": registered.deployment_id,
            "csp_nonce": getattr(request.state, "csp_nonce", ""),
        },
        headers=_headers(request, settings),
    )
    return response


def _headers(request: Request, settings: Settings) -> dict[str, str]:
    """No caching, and a CSP that lets any LMS frame this page."""
    headers = dict(NO_STORE)
    nonce = getattr(request.state, "csp_nonce", "")
    if nonce:
        # The platform frames this page before it is registered, so the usual frame-ancestors (registered
        # platforms only) would block it. The page acts on GET without any click, so framing adds no risk.
        # The middleware only sets the CSP when the response has none.
        headers["Content-Security-Policy"] = content_security_policy(nonce, FRAMERS if settings.is_production
                                                                     else f"{FRAMERS} http:")
    return headers


def _store(sessions: sessionmaker[Session], registered: RegisteredPlatform) -> tuple[str, str, str]:
    """Store and commit; returns the stored name, issuer and client_id (plain values, not a detached row)."""
    with sessions() as session:
        row = store_registration(session, registered)
        try:
            session.commit()
        except IntegrityError as error:
            # Two registrations of the same issuer and client_id raced; the other one won.
            session.rollback()
            raise already_registered(registered) from error
        return row.name, row.issuer, row.client_id


def _error_page(request: Request, error: DynamicRegistrationError) -> Response:
    status = ERROR_STATUS[error.kind]
    response: Response = request.app.state.templates.TemplateResponse(
        request,
        "lti_register_error.html",
        {
            "status": status,
            "message": error.message,
            "platform_status": error.platform_status,
            "platform_body": error.platform_body,
            "platform_body_truncated": error.platform_body_truncated,
        },
        status_code=status,
        headers=_headers(request, request.app.state.settings),
    )
    return response
