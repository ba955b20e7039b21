"""GET /lti/register: LTI Dynamic Registration started by the platform (Canvas loads it in an iframe)."""

from __future__ import annotations

import logging

import httpx
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from marketplace.lti.dynamic_registration import (
    MISSING_CONFIGURATION,
    DynamicRegistrationError,
    origin_text,
    register_with_platform,
    save_registration,
)
from marketplace.outbound import guarded_async_transport
from marketplace.settings import Settings
from marketplace.web.security import content_security_policy
from marketplace.web.services import services

logger = logging.getLogger("marketplace.lti")

ERROR_STATUS = {"input": 400, "platform": 502, "conflict": 409, "full": 403, "refused": 429}


# The registration answer is specific to one token and one platform; never let a cache keep it.
NO_STORE = {"Cache-Control": "no-store"}
FRAMERS = "https:"
USER_AGENT = "lti-marketplace"


async def register_page(request: Request) -> Response:
    """Register with the platform named by `openid_configuration`, store it, and tell the platform to close."""
    state = services(request)
    settings = state.settings
    configuration_url = request.query_params.get("openid_configuration", "").strip()
    token = request.query_params.get("registration_token", "")
    if not configuration_url:
        return _error_page(request, DynamicRegistrationError(MISSING_CONFIGURATION, kind="input"))
    limiter = state.registration_limit
    client = request.client.host if request.client else "unknown"
    if not limiter.allow(client):
        return _error_page(request, DynamicRegistrationError(
            "Too many registrations were started from your address in the last minute. Wait a minute, then "
            "start the registration again from your LMS.", kind="refused"))
    try:
        # Only public addresses (and loopback outside production), checked at connect time: see outbound.py.
        transport = guarded_async_transport(allow_loopback=settings.allows_loopback_platforms)
        async with httpx.AsyncClient(headers={"User-Agent": USER_AGENT}, transport=transport) as own_client:
            registered = await register_with_platform(configuration_url, token, settings, own_client)
        name, issuer, client_id = await run_in_threadpool(save_registration, state.sessions, registered,
                                                          not settings.is_production)
    except DynamicRegistrationError as error:
        # Log the origin only: Canvas puts the registration token in the configuration URL's query.
        logger.warning("dynamic registration from %s failed (%s, platform status %s): %s",
                       origin_text(configuration_url), error.kind, error.platform_status, error.message)
        return _error_page(request, error)
    logger.info("dynamic registration stored: issuer %s, client_id %s", issuer, client_id)
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


def _error_page(request: Request, error: DynamicRegistrationError) -> Response:
    status = ERROR_STATUS[error.kind]
    response: Response = services(request).templates.TemplateResponse(
        request,
        "lti_register_error.html",
        {
            "status": status,
            "message": error.message,
            # Never the body: the URL came from whoever opened this page, so echoing what it answered
            # would let anyone read a service this server can reach. Our sentence and the status only.
            "platform_status": error.platform_status,
            "platform_content_type": error.platform_content_type,
        },
        status_code=status,
        headers=_headers(request, services(request).settings),
    )
    return response
