"""The picker of a deep-linking launch: search with facets, a server-side tray, favourites, recently used,
a preview, and the signed response.

Every request carries the launch token (htmx header, or a form field for the final full-page POST). The
tray lives on the launch row, so a selection survives new searches and several workers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from marketplace.catalog.resource import Resource
from marketplace.catalog.search_types import SearchRequest
from marketplace.grading.policy import ATTEMPTS_KEY, MAX_ATTEMPTS_ALLOWED, POLICIES, POLICY_KEY
from marketplace.lti import launch_token
from marketplace.lti.context import LaunchContext
from marketplace.lti.deep_link_answer import MAX_SELECTION, DeepLinkAnswer, Submission, answer
from marketplace.lti.deep_linking import (
    DeepLinkingSettings,
    ItemOptions,
)
from marketplace.lti.errors import refused
from marketplace.lti.picker_state import star, toggle_in_tray
from marketplace.platform_urls import safe_origin
from marketplace.portfolio.content_items import submission_item
from marketplace.settings import Settings
from marketplace.web.launch_session import launch_context
from marketplace.web.params import search_request
from marketplace.web.picker_pages import personal_lists, picker_context, picker_search_now, require_role
from marketplace.web.resource_pages import load_resource, resource_page_context
from marketplace.web.security import content_security_policy
from marketplace.web.services import services


def _context_now(request: Request, token: str | None = None) -> LaunchContext:
    """The picker's launch, checked (blocking)."""
    context = launch_context(request, token or request.headers.get(launch_token.HEADER))
    require_role(context)
    if context.deep_linking_settings is None:
        raise refused("not_deep_linking", "This launch cannot return content to the course.", advice="")
    return context


def _results_now(request: Request, search: SearchRequest) -> tuple[LaunchContext, dict[str, Any]]:
    context = _context_now(request)
    return context, picker_search_now(request, context, search)


async def picker_results(request: Request) -> Response:
    """GET /lti/picker/results: the results partial (htmx, token in the header)."""
    search = search_request(request.query_params, as_you_type=bool(request.headers.get("HX-Request")))
    if "per_page" not in request.query_params:
        search = SearchRequest(**{**_fields(search), "per_page": 10})
    # The launch, the search and the personal lists in one hop to the threadpool (each hop is two thread
    # switches and a wake-up of the event loop; this request made three).
    context, found = await run_in_threadpool(_results_now, request, search)
    response: Response = services(request).templates.TemplateResponse(
        request, "_picker_results.html", {**found, **picker_context(context), "oob": True},
    )
    return response


def _fields(search: SearchRequest) -> dict[str, Any]:
    return {name: getattr(search, name) for name in SearchRequest.__dataclass_fields__}


async def select(request: Request) -> Response:
    """POST /lti/picker/select: put a resource in the tray or take it out; returns the tray partial."""
    form = await request.form(max_files=0, max_fields=MAX_SELECTION + 16)
    # The control posts `toggle` always and its own `resource` value only while checked.
    resource_id = str(form.get("toggle", ""))
    selected = str(form.get("resource", "")) == resource_id
    page = await run_in_threadpool(_select_now, request, resource_id, selected)  # one hop
    response: Response = services(request).templates.TemplateResponse(request, "_picker_tray.html", page)
    return response


def _select_now(request: Request, resource_id: str, selected: bool) -> dict[str, Any]:
    """Check the launch, change its tray, and return what the tray partial shows (blocking)."""
    context = _context_now(request)
    settings = picker_context(context)  # worked out once: the toggle needs `single`, the partial all of it
    context = toggle_in_tray(services(request).sessions, context, resource_id, selected,
                             single=bool(settings["single"]))
    return {**personal_lists(request, context), **settings}


async def favourite(request: Request) -> Response:
    """POST /lti/picker/favourite: star or unstar a resource for this instructor; returns the star button."""
    form = await request.form(max_files=0, max_fields=MAX_SELECTION + 16)
    resource_id = str(form.get("resource", ""))
    starred = str(form.get("favourite", "true")) == "true"

    def star_now() -> str:
        return star(services(request).sessions, _context_now(request), resource_id, starred)

    title = await run_in_threadpool(star_now)  # the launch and the star in one hop
    response: Response = services(request).templates.TemplateResponse(
        request, "_picker_star.html", {"resource_id": resource_id, "title": title, "starred": starred}
    )
    return response


async def preview(request: Request) -> Response:
    """GET /lti/picker/preview/{id}: the resource as the course will show it."""

    def resource_now() -> Resource:
        _context_now(request)
        return load_resource(request, request.path_params["resource_id"])

    resource = await run_in_threadpool(resource_now)  # the launch and the resource in one hop
    response: Response = services(request).templates.TemplateResponse(
        request, "_picker_preview.html", {**resource_page_context(resource), "in_launch": True}
    )
    return response


async def respond(request: Request) -> Response:
    """POST /lti/deep-linking/respond: build the content items, sign them now, auto-post to the platform."""
    form = await request.form(max_files=0, max_fields=MAX_SELECTION + 16)
    # The launch and the answer in one hop to the threadpool (each hop is two thread switches and a wake-up of
    # the event loop); the launch is still checked before anything the form asks for.
    answered = await run_in_threadpool(_answer_now, request, form)
    app = services(request)
    response: Response = services(request).templates.TemplateResponse(
        request, "lti_deep_link_return.html", {"return_url": answered.return_url, "jwt": answered.jwt}
    )
    response.headers["Cache-Control"] = "no-store"
    # This page must post to the platform's return URL, whatever its origin (a Canvas school's own domain).
    # The origin goes into a header, so it passes the same check as every platform URL first.
    target = safe_origin(answered.return_url) or ""
    platforms = app.frame_ancestors.value
    response.headers["Content-Security-Policy"] = content_security_policy(
        request.state.csp_nonce, platforms, form_targets=target
    )
    return response


def _answer_now(request: Request, form: FormData) -> DeepLinkAnswer:
    """Check the launch, read the choices and options of the form, and answer (blocking)."""
    context = _context_now(request, str(form.get("launch_token", "")) or None)
    assert context.deep_linking_settings is not None  # noqa: S101 - checked by _context_now
    posted = [str(value) for value in form.getlist("resource")][: MAX_SELECTION + 1]
    portfolio_item = str(form.get("portfolio_item", ""))
    portfolio_as = str(form.get("portfolio_as", ""))  # a note or link as a "file" or a "link"; checked there
    options = ItemOptions(points=_points(str(form.get("points", ""))), available_start=_date(form, "available_from"),
                          available_end=_date(form, "available_until"), due=_date(form, "due"),
                          use_description=str(form.get("use_description", "")) == "yes",
                          quiz_custom=_quiz_settings(form))
    app = services(request)
    submission = _portfolio_submission(app.settings, context, portfolio_item, portfolio_as) if portfolio_item else None
    return answer(app.sessions, app.signing_keys, context, posted=posted, options=options,
                  base_url=app.settings.base_url, submission=submission)


def _portfolio_submission(settings: Settings, context: LaunchContext, item_id: str, submit_as: str) -> Submission:
    """The content item of a portfolio item, built inside the answer's transaction (portfolio/ sits beside lti/)."""
    assert context.deep_linking_settings is not None  # noqa: S101 - deep-linking launches only
    claim = DeepLinkingSettings.from_claim(context.deep_linking_settings)

    def build(session: Session) -> dict[str, Any]:
        return submission_item(session, context, item_id, settings.base_url, settings.secret_key,
                               claim.accept_types, claim.accept_media_types, submit_as)

    return build


def _quiz_settings(form: Any) -> dict[str, str]:
    """Attempts allowed and grade policy for a graded quiz, checked here so the item never carries nonsense."""
    settings: dict[str, str] = {}
    attempts = str(form.get(ATTEMPTS_KEY, "")).strip()
    if attempts:
        if not attempts.isdigit() or not 1 <= int(attempts) <= MAX_ATTEMPTS_ALLOWED:
            raise refused("dl_bad_attempts", f"Attempts allowed must be a whole number from 1 to "
                          f"{MAX_ATTEMPTS_ALLOWED}, or empty for unlimited.", advice="")
        settings[ATTEMPTS_KEY] = attempts
    policy = str(form.get(POLICY_KEY, "")).strip()
    if policy:
        if policy not in POLICIES:
            raise refused("dl_bad_policy", "The grade policy must be the best or the latest attempt.", advice="")
        settings[POLICY_KEY] = policy
    return settings


def _points(raw: str) -> float | None:
    if not raw.strip():
        return None
    try:
        value = float(raw)
    except ValueError:
        raise refused("dl_bad_points", "Points must be a number, for example 10.", advice="") from None
    if not 0 < value <= 10_000:
        raise refused("dl_bad_points", "Points must be between 0 and 10,000.", advice="")
    return value


def _date(form: Any, name: str) -> str | None:
    """A datetime-local field as an ISO 8601 string (the platform's time zone is the course's: no offset)."""
    raw = str(form.get(name, "")).strip()
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw).isoformat(timespec="seconds")
    except ValueError:
        raise refused("dl_bad_date", f"The date “{raw[:40]}” is not a date and time like 2026-12-01T09:00.",
                      advice="") from None
