"""GET /lti/register: LTI Dynamic Registration started by the platform (Canvas loads it in an iframe)."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import httpx
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from marketplace.lti.dynamic_registration import (
    DynamicRegistrationError,
    RegisteredPlatform,
    already_registered,
    register_with_platform,
    store_registration,
)
from marketplace.settings import Settings

logger = logging.getLogger("marketplace.lti")

ERROR_STATUS = {"input": 400, "platform": 502, "conflict": 409}
# The registration answer is specific to one token and one platform; never let a cache keep it.
NO_STORE = {"Cache-Control": "no-store"}


async def register_page(request: Request) -> Response:
    """Register with the platform named by `openid_configuration`, store it, and tell the platform to close."""
    state = request.app.state
    settings: Settings = state.settings
    configuration_url = request.query_params.get("openid_configuration", "").strip()
    token = request.query_params.get("registration_token", "")
    if not configuration_url:
        return _error_page(request, DynamicRegistrationError(
            "The openid_configuration parameter is missing. Start the registration from your LMS, which adds it "
            "to this address.", kind="input"))
    try:
        http = getattr(state, "http", None)
        if isinstance(http, httpx.AsyncClient):
            registered = await register_with_platform(configuration_url, token, settings, http)
        else:
            async with httpx.AsyncClient() as own_client:
                registered = await register_with_platform(configuration_url, token, settings, own_client)
        name, issuer, client_id = await run_in_threadpool(_store, state.sessions, registered)
    except DynamicRegistrationError as error:
        # Log the origin only: Canvas puts the registration token in the configuration URL's query.
        parts = urlsplit(configuration_url)
        logger.warning("dynamic registration from %s://%s failed (%s, platform status %s): %s",
                       parts.scheme, parts.netloc, error.kind, error.platform_status, error.message)
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
        headers=NO_STORE,
    )
    return response


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
        headers=NO_STORE,
    )
    return response
