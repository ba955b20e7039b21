"""The operator's page `/admin`: sign-in (the admin secret, or a platform administrator's launch), the overview,
and its actions, each a POST carrying the page's anti-CSRF value and answered by a redirect back."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from datetime import timedelta
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from marketplace.clock import utc_now
from marketplace.errors import RequestError
from marketplace.keyed import Purpose, TokenExpired, TokenInvalid, read_claims, sign, signature, signature_matches
from marketplace.lti.launched import context_for_token, platform_of_launch
from marketplace.operator import (
    Scope,
    catalog_status,
    decide_deployment,
    decide_platform,
    overview,
    retry_grade,
    rotate_keys,
)
from marketplace.web.services import services

COOKIE = "mkt_admin"
SESSION_LIFETIME = timedelta(hours=8)
NOTICE_LIFETIME = timedelta(minutes=2)
MAX_FORM_FIELDS = 8


def _scope(request: Request) -> Scope | None:
    value = request.cookies.get(COOKIE)
    if not value:
        return None
    try:
        claims = read_claims(value, services(request).settings.secret_key, Purpose.ADMIN_SESSION, require=["who"])
    except (TokenExpired, TokenInvalid):
        return None
    platform_id = claims.get("pid")
    if not isinstance(platform_id, int) and claims.get("tok") != _secret_tag(request):
        return None  # signed in with an admin secret that has since been changed: that is how access is revoked
    return Scope(platform_id if isinstance(platform_id, int) else None, str(claims["who"]))


def _secret_tag(request: Request) -> str | None:
    """A tag of the current admin secret (not the secret): sessions signed in with another secret are void."""
    token = services(request).settings.admin_token
    return hashlib.sha256(b"admin secret\0" + token.encode()).hexdigest()[:16] if token else None


def _csrf(request: Request) -> str:
    return signature(request.cookies.get(COOKIE, "").encode(), services(request).settings.secret_key,
                     Purpose.ADMIN_FORM)


def _page(request: Request, template: str, values: dict[str, Any], status: int = 200) -> Response:
    response: Response = services(request).templates.TemplateResponse(request, template, values, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _refused(request: Request, message: str, status: int = 403) -> Response:
    return _page(request, "admin_signin.html", {"message": message,
                                                "secret_configured": bool(services(request).settings.admin_token)},
                 status)


def _set_session(request: Request, response: Response, claims: dict[str, Any]) -> None:
    settings = services(request).settings
    cookie = SimpleCookie()
    cookie[COOKIE] = sign(claims, settings.secret_key, Purpose.ADMIN_SESSION, SESSION_LIFETIME)
    morsel = cookie[COOKIE]
    # Lax, not Strict: the page opened from a launch arrives by a redirect that began inside the LMS frame.
    morsel["path"], morsel["httponly"], morsel["samesite"] = "/admin", True, "Lax"
    morsel["max-age"] = int(SESSION_LIFETIME.total_seconds())
    if settings.base_url.startswith("https://"):
        morsel["secure"] = True
    response.headers.append("set-cookie", morsel.OutputString())


async def admin_page(request: Request) -> Response:
    """GET /admin: the overview for an operator; a 403 with the sign-in form for anyone else."""
    scope = _scope(request)
    if scope is None:
        return _refused(request, "The operator's page is for the tool's administrators. Sign in with the "
                                 "administrator secret, or open it from your platform as its administrator.")
    app = services(request)
    data = await run_in_threadpool(overview, app.sessions, scope)
    reindex = await run_in_threadpool(app.reindex.state, app.sessions)
    notice = ""
    if request.query_params.get("done"):
        try:
            notice = str(read_claims(request.query_params["done"], app.settings.secret_key, Purpose.ADMIN_FORM)["m"])
        except (TokenExpired, TokenInvalid, KeyError):
            notice = ""
    return _page(request, "admin.html", {
        "scope": scope, "data": data, "csrf": _csrf(request), "notice": notice,
        "catalog": catalog_status(app.catalog) if scope.whole_tool else "", "reindex": reindex,
    })


async def sign_in(request: Request) -> Response:
    """POST /admin/sign-in: the administrator secret, compared in constant time."""
    form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    expected = services(request).settings.admin_token
    given = str(form.get("secret", ""))
    if not expected:
        return _refused(request, "Signing in with a secret is off here: MARKETPLACE_ADMIN_TOKEN is not set.")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return _refused(request, "That is not the administrator secret.")
    response = RedirectResponse(str(request.url_for("admin")), status_code=303)
    _set_session(request, response, {"who": "administrator", "tok": _secret_tag(request)})
    return response


async def from_launch(request: Request) -> Response:
    """POST /admin/from-launch: a platform administrator's launch opens the page for that platform."""
    form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    app = services(request)
    context = await run_in_threadpool(context_for_token, app.sessions, app.settings.secret_key,
                                      str(form.get("launch_token", "")), utc_now())
    if not context.is_platform_administrator:
        return _refused(request, "Only an administrator of your platform may open the operator's page from it.")
    platform_id = await run_in_threadpool(_platform_of_launch, request, context.launch_id)
    response = RedirectResponse(str(request.url_for("admin")), status_code=303)
    _set_session(request, response, {"who": f"{context.display_name} ({context.platform_name})", "pid": platform_id})
    return response


def _platform_of_launch(request: Request, launch_id: str) -> int:
    return platform_of_launch(services(request).sessions, launch_id)


async def sign_out(request: Request) -> Response:
    response = RedirectResponse(str(request.url_for("admin")), status_code=303)
    response.headers.append("set-cookie", f"{COOKIE}=; Path=/admin; Max-Age=0; HttpOnly; SameSite=Lax")
    return response


class _Refused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def action(run: Callable[[Request, Scope], str]) -> Callable[[Request], Awaitable[Response]]:
    """An operator's POST: signed in, with the page's anti-CSRF value; `run` (blocking, in a thread) does the
    work and says what it did, and the answer is a redirect back to the page with that notice."""

    async def endpoint(request: Request) -> Response:
        try:
            scope = _scope(request)
            if scope is None:
                raise _Refused("Sign in first: this action is for the tool's administrators.")
            form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
            token = str(form.get("csrf", ""))
            cookie = request.cookies.get(COOKIE, "").encode()
            if not token or not signature_matches(cookie, token, services(request).settings.secret_key,
                                                  Purpose.ADMIN_FORM):
                raise _Refused("This form is out of date or did not come from the operator's page. Reload the "
                               "page and try again.")
        except _Refused as refusal:
            return _refused(request, refusal.message)
        message = await run_in_threadpool(run, request, scope)
        notice = sign({"m": message}, services(request).settings.secret_key, Purpose.ADMIN_FORM, NOTICE_LIFETIME)
        return RedirectResponse(str(request.url_for("admin")) + "?" + urlencode({"done": notice}), status_code=303)

    return endpoint


def _id(request: Request) -> int:
    return int(request.path_params["item"])


def _approve(request: Request) -> bool:
    decision = request.path_params["decision"]
    if decision not in {"approve", "retire"}:
        raise RequestError(404, "There is nothing at this address. Go back to the operator's page.")
    return bool(decision == "approve")


def _platform_decision(request: Request, scope: Scope) -> str:
    return decide_platform(services(request).sessions, scope, _id(request), _approve(request))


def _deployment_decision(request: Request, scope: Scope) -> str:
    return decide_deployment(services(request).sessions, scope, _id(request), _approve(request))


def _keys_rotate(request: Request, scope: Scope) -> str:
    return rotate_keys(services(request).sessions, scope, services(request).settings.secret_key)


def _grade_retry(request: Request, scope: Scope) -> str:
    message = retry_grade(services(request).sessions, scope, _id(request))
    services(request).grading.delivery.wake()
    return message


def _catalog_reindex(request: Request, scope: Scope) -> str:
    app = services(request)
    assert app.replica is not None  # noqa: S101 - create_app always makes one
    return app.reindex.start(app.sessions, app.settings.content_dir, app.replica, scope)


async def reindex_progress(request: Request) -> Response:
    """GET /admin/catalog/progress: the progress fragment, polled by htmx while a re-index runs."""
    if _scope(request) is None:
        return _refused(request, "Sign in first: this page is for the tool's administrators.")
    app = services(request)
    return _page(request, "_admin_reindex.html", {"reindex": await run_in_threadpool(app.reindex.state, app.sessions)})


def routes() -> list[Route]:
    return [
        Route("/admin", admin_page, name="admin"),
        Route("/admin/sign-in", sign_in, methods=["POST"], name="admin_sign_in"),
        Route("/admin/from-launch", from_launch, methods=["POST"], name="admin_from_launch"),
        Route("/admin/sign-out", sign_out, methods=["POST"], name="admin_sign_out"),
        Route("/admin/platforms/{item:int}/{decision:str}", action(_platform_decision), methods=["POST"],
              name="admin_platform"),
        Route("/admin/deployments/{item:int}/{decision:str}", action(_deployment_decision), methods=["POST"],
              name="admin_deployment"),
        Route("/admin/keys/rotate", action(_keys_rotate), methods=["POST"], name="admin_keys_rotate"),
        Route("/admin/grades/{item:int}/retry", action(_grade_retry), methods=["POST"], name="admin_grade_retry"),
        Route("/admin/catalog/reindex", action(_catalog_reindex), methods=["POST"], name="admin_reindex"),
        Route("/admin/catalog/progress", reindex_progress, name="admin_reindex_progress"),
    ]
