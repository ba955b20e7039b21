"""Errors that carry a status and a sentence for people, rendered by one handler as a page or JSON."""

from __future__ import annotations

import logging
import uuid

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from marketplace.clock import utc_now
from marketplace.errors import MarketplaceError
from marketplace.lti.refusals import Refusal, record_refusal
from marketplace.web.services import services

logger = logging.getLogger("marketplace.web")

DEFAULT_MESSAGES = {
    400: "The request could not be understood.",
    404: "There is nothing at this address. Check the link, or start again from the catalog.",
    405: "This address does not accept that kind of request.",
    413: "The request is too large.",
    500: "Something went wrong on our side. Try again in a moment; if it keeps happening, tell your administrator.",
    503: "The catalog is not ready yet. An administrator needs to run `marketplace index`.",
}


def wants_json(request: Request) -> bool:
    """API paths, and clients that ask for JSON or send it (a platform posting notices is not a browser)."""
    return (request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", "")
            or request.headers.get("content-type", "").startswith("application/json"))


def render_error(request: Request, status: int, message: str, parameter: str | None = None) -> Response:
    if wants_json(request):
        body: dict[str, object] = {"status": status, "message": message}
        if parameter:
            body["parameter"] = parameter
        return JSONResponse({"error": body}, status_code=status)
    templates = services(request).templates
    template = "_error.html" if request.headers.get("HX-Request") else "error.html"
    response: Response = templates.TemplateResponse(
        request, template, {"status": status, "message": message}, status_code=status
    )
    return response


async def marketplace_error_handler(request: Request, exc: Exception) -> Response:
    """Every MarketplaceError, whichever package raised it. A refusal with a `check` (a login or launch) is
    logged with a reference the person can quote, and the check goes in the X-LTI-Check header."""
    assert isinstance(exc, MarketplaceError)  # noqa: S101 - registered for MarketplaceError only
    if exc.check is None:
        return render_error(request, exc.status, exc.message, exc.parameter)
    correlation = uuid.uuid4().hex[:12]
    logger.warning("LTI refusal %s: check=%s status=%s path=%s", correlation, exc.check, exc.status, request.url.path)
    refusal = Refusal(exc.check, exc.status, exc.message, request.url.path, correlation, utc_now())
    await run_in_threadpool(record_refusal, services(request).sessions, refusal)
    response = render_error(request, exc.status, f"{exc.message} (reference {correlation})", exc.parameter)
    response.headers["X-LTI-Check"] = exc.check
    return response


DATABASE_AWAY = ("The tool cannot reach its database right now. Try again in a minute; if it keeps happening, "
                 "tell your administrator.")


async def database_error_handler(request: Request, exc: Exception) -> Response:
    """The database went away (restart, failover, network): a 503 that says to try again, not a 500. Nothing
    was stored by the failed request (its transaction was not committed), so trying again is safe."""
    correlation = uuid.uuid4().hex[:12]
    logger.warning("database unavailable %s on %s %s: %s", correlation, request.method, request.url.path,
                   type(exc).__name__)
    response = render_error(request, 503, f"{DATABASE_AWAY} (reference {correlation})")
    response.headers["Retry-After"] = "5"
    return response


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for HTTPException only
    message = DEFAULT_MESSAGES.get(exc.status_code, exc.detail or "The request failed.")
    return render_error(request, exc.status_code, message)


async def server_error_handler(request: Request, exc: Exception) -> Response:
    correlation = uuid.uuid4().hex[:12]
    logger.error("unhandled error %s on %s %s", correlation, request.method, request.url.path, exc_info=exc)
    return render_error(request, 500, f"{DEFAULT_MESSAGES[500]} (reference {correlation})")
