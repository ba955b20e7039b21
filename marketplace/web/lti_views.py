"""HTTP side of LTI: login, launch (with the platform-storage confirmation), the launched page, keys, config."""

from __future__ import annotations

import logging
from http.cookies import SimpleCookie
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from marketplace.clock import utc_now
from marketplace.grading import attempts
from marketplace.lti import claims, launch_token
from marketplace.lti.canvas_config import canvas_configuration
from marketplace.lti.context import LaunchContext
from marketplace.lti.errors import LtiRefusal
from marketplace.lti.handoff import (
    HANDOFF_SECONDS,
    accept_launch,
    binding,
    confirm_from_storage,
    redeem_handoff,
)
from marketplace.lti.keys import public_key_set
from marketplace.lti.launch import MAX_ID_TOKEN_BYTES
from marketplace.lti.login import LOGIN_TTL, STATE_COOKIE_PREFIX, LoginStart, begin_login
from marketplace.metrics import metrics
from marketplace.platform_urls import safe_origin
from marketplace.web import portfolio_pages
from marketplace.web.launch_session import launch_context
from marketplace.web.picker_pages import initial_results_now, picker_context, require_role
from marketplace.web.resource_pages import portfolio_item_for_launch, resource_for_launch, resource_page_context
from marketplace.web.services import services

logger = logging.getLogger("marketplace.lti")
MAX_FORM_BYTES = MAX_ID_TOKEN_BYTES + 64 * 1024


def _secure(request: Request) -> bool:
    return str(services(request).settings.base_url).startswith("https://")


def _set_state_cookie(request: Request, response: Response, start: LoginStart) -> None:
    """The state cookie, cross-site where allowed (SameSite=None needs Secure, so plain http gets Lax)."""
    _set_cookie(request, response, STATE_COOKIE_PREFIX + start.state, start.state,
                int(LOGIN_TTL.total_seconds()), "/lti/")


def _set_cookie(request: Request, response: Response, name: str, value: str, max_age: int, path: str) -> None:
    cookie = SimpleCookie()
    cookie[name] = value
    morsel = cookie[name]
    morsel["max-age"] = max_age
    morsel["path"] = path
    morsel["httponly"] = True
    secure = _secure(request)
    if secure:
        morsel["secure"] = True
        morsel["samesite"] = "None"
    else:
        morsel["samesite"] = "Lax"
    written = morsel.OutputString()
    # CHIPS: Python's cookie module (and so Starlette before Python 3.14) cannot write Partitioned itself.
    response.headers.append("set-cookie", written + ("; Partitioned" if secure else ""))


async def _params(request: Request) -> dict[str, str]:
    values = {key: value for key, value in request.query_params.items()}
    if request.method == "POST":
        form = await request.form(max_files=0, max_fields=64)
        values.update({key: value for key, value in form.items() if isinstance(value, str)})
    if "lti_deployment_id" not in values and "deployment_id" in values:
        values["lti_deployment_id"] = values["deployment_id"]
    return values


async def login(request: Request) -> Response:
    """GET|POST /lti/login: OIDC third-party initiated login."""
    params = await _params(request)
    settings = services(request).settings

    start = await run_in_threadpool(begin_login, services(request).sessions, params, base_url=settings.base_url,
                                    secure=_secure(request))
    if start.storage_target:
        response: Response = services(request).templates.TemplateResponse(
            request, "lti_login_storage.html", {"start": start}
        )
    else:
        response = RedirectResponse(start.redirect_url, status_code=302)
    response.headers["Cache-Control"] = "no-store"
    _set_state_cookie(request, response, start)
    return response


async def launch(request: Request) -> Response:
    """POST /lti/launch: validate the id_token; confirm the browser by cookie or platform storage."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_FORM_BYTES:
        metrics().launches.labels("refused", "too_large").inc()
        raise LtiRefusal("too_large", "The launch is too large to be an LTI launch.", 413)
    form = await request.form(max_files=0, max_fields=64, max_part_size=MAX_FORM_BYTES)
    params = {key: value for key, value in form.items() if isinstance(value, str)}
    state = params.get("state", "")
    cookie_ok = bool(state) and request.cookies.get(STATE_COOKIE_PREFIX + state) == state
    secure = _secure(request)

    try:
        verified, code = await run_in_threadpool(accept_launch, services(request).sessions,
                                                  services(request).platform_keys, params, secure=secure,
                                                  cookie_ok=cookie_ok)
    except LtiRefusal as refusal:
        metrics().launches.labels("refused", refusal.check or "unknown").inc()
        raise
    metrics().launches.labels("accepted", "").inc()
    if code is not None:
        return _to_app(request, code)  # this browser carries the cookie: bind the code to it
    response: Response = services(request).templates.TemplateResponse(
        request,
        "lti_launch_storage.html",
        {
            "launch_id": verified.context.launch_id,
            "state": verified.state,
            "storage_target": params.get("lti_storage_target", ""),
            "auth_origin": safe_origin(verified.auth_login_url) or "",
        },
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def confirm_launch(request: Request) -> Response:
    """POST /lti/launch/confirm: the launch page read state and nonce back from platform storage."""
    form = await request.form(max_files=0, max_fields=8)
    launch_id = str(form.get("launch_id", ""))
    state = str(form.get("state", ""))
    nonce = str(form.get("nonce", ""))

    app = services(request)
    confirmed = await run_in_threadpool(confirm_from_storage, app.sessions, launch_id, state, nonce, utc_now())
    # No cookie reaches this browser, so no handoff code either: this POST proved it holds the values the
    # platform's storage kept for this login, and it gets the launched page itself.
    return await _render_app(request, confirmed)


HANDOFF_COOKIE = "lti_handoff"


def _to_app(request: Request, code: str) -> Response:
    response = RedirectResponse(str(request.url_for("lti_app")) + f"?handoff={code}", status_code=303)
    cookie = binding(services(request).settings.secret_key, code)
    _set_cookie(request, response, HANDOFF_COOKIE, cookie, HANDOFF_SECONDS, str(request.url_for("lti_app").path))
    return response


async def app_page(request: Request) -> Response:
    """GET /lti/app?handoff=…: the launched page, which carries its launch token in htmx headers."""
    app = services(request)
    launch_id = await run_in_threadpool(redeem_handoff, app.sessions, app.settings.secret_key,
                                        request.query_params.get("handoff", ""),
                                        request.cookies.get(HANDOFF_COOKIE, ""), utc_now())
    return await _render_app(request, launch_id)  # the binding cookie expires by itself within two minutes


def _launch_and_picker_now(request: Request, token: str) -> tuple[LaunchContext, dict[str, Any] | None]:
    """The launch of a launched page and, for a deep-linking launch, what its picker shows first (blocking)."""
    context = launch_context(request, token)
    if context.message_type != claims.DEEP_LINKING_REQUEST:
        return context, None
    require_role(context)
    picker_page = picker_context(context)
    picker_page.update(initial_results_now(request, context, str(picker_page["prefill"])))
    return context, picker_page


async def _render_app(request: Request, launch_id: str) -> Response:
    """The page of a confirmed launch: picker, resource, portfolio item or the plain app page."""
    token = launch_token.issue(launch_id, services(request).settings.secret_key)
    # The launch and, for a picker, its first results in one hop to the threadpool (each hop is two thread
    # switches and a wake-up of the event loop).
    context, picker_page = await run_in_threadpool(_launch_and_picker_now, request, token)
    page: dict[str, Any] = {"context": context, "launch_token": token, "header": launch_token.HEADER}
    template = "lti_app.html"
    if picker_page is not None:
        template = "lti_picker.html"
        page.update(picker_page)
        page.update(await portfolio_pages.picker_portfolio(request, context, token))  # homework only
    elif context.custom.get("portfolio_item_id"):
        template = "lti_portfolio_item.html"
        page.update(await run_in_threadpool(portfolio_item_for_launch, request, context))
    elif context.custom.get("resource_id"):
        resource = await run_in_threadpool(resource_for_launch, request, context)
        if resource.type == "quiz" and context.resource_link_id:
            template = "lti_quiz.html"
            page["quiz"] = await run_in_threadpool(attempts.quiz_page, services(request).sessions, context)
        else:
            template = "lti_resource.html"
            page.update(resource_page_context(resource), in_launch=True)
    response: Response = services(request).templates.TemplateResponse(request, template, page)
    response.headers["Cache-Control"] = "no-store"
    return response


async def whoami(request: Request) -> Response:
    """GET /lti/whoami: what the launch token in the header stands for (htmx partial or JSON)."""
    context = await run_in_threadpool(launch_context, request, request.headers.get(launch_token.HEADER))
    if request.headers.get("HX-Request"):
        response: Response = services(request).templates.TemplateResponse(
            request, "_lti_whoami.html", {"context": context}
        )
        return response
    return JSONResponse(
        {"launch_id": context.launch_id, "user": context.user_sub, "name": context.display_name,
         "roles": list(context.roles), "message_type": context.message_type, "context_id": context.context_id,
         "deployment_id": context.deployment_id, "platform": context.issuer}
    )


async def jwks(request: Request) -> Response:
    """GET /lti/jwks and /.well-known/jwks.json: next, active and previous public keys."""

    keys = await run_in_threadpool(public_key_set, services(request).sessions, services(request).settings.secret_key)
    return JSONResponse(keys, headers={"Cache-Control": "public, max-age=300"})


async def canvas_config(request: Request) -> Response:
    """GET /lti/config/canvas.json: the Canvas developer key JSON."""
    return JSONResponse(canvas_configuration(services(request).settings.base_url))
