"""The picker of a deep-linking launch: search results with selection controls, and the signed response.

Every request carries the launch token (htmx header, or a form field for the final full-page POST).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from marketplace.catalog.search import CatalogIndex, SearchRequest, SearchResult
from marketplace.lti import launch_token
from marketplace.lti.context import LaunchContext
from marketplace.lti.deep_linking import (
    ASSIGNMENT,
    HOMEWORK,
    ContentItemBuilder,
    DeepLinkingSettings,
    ItemOptions,
    placement_of,
    response_claims,
    sign_response,
)
from marketplace.lti.errors import LtiRefusal, refused
from marketplace.lti.keys import SigningKeys
from marketplace.store.models import LaunchRow, utc_now
from marketplace.store.resources import get_resources
from marketplace.web.launch_session import launch_context
from marketplace.web.params import search_request
from marketplace.web.serialize import hit_to_json

MAX_SELECTION = 50


def require_role(context: LaunchContext) -> None:
    """Instructor placements need a teaching role; homework submission needs a learner."""
    placement = placement_of(context)
    if placement == HOMEWORK:
        if not context.is_learner:
            raise refused("role_learner", "Submitting homework needs a student (Learner) role in this course.",
                          status=403, advice="")
    elif not context.is_instructor:
        raise refused("role_instructor", "Adding resources to the course needs an instructor, teaching assistant, "
                      "content developer or administrator role.", status=403, advice="")


def picker_context(context: LaunchContext) -> dict[str, Any]:
    """What the picker template needs besides the search results."""
    assert context.deep_linking_settings is not None  # noqa: S101 - deep-linking launches only
    settings = DeepLinkingSettings.from_claim(context.deep_linking_settings)
    placement = placement_of(context)
    single = not settings.accept_multiple or placement in {ASSIGNMENT, HOMEWORK}
    presentation = context.launch_presentation
    height = presentation.get("height") if isinstance(presentation.get("height"), int) else None
    return {
        "placement": placement,
        "single": single,
        "submit_label": "Submit selected" if placement == HOMEWORK else "Add selected",
        "ask_points": placement == ASSIGNMENT,
        "prefill": context.custom.get("selection", "") if not context.custom.get("selection", "").startswith("$")
        else "",
        "frame_height": max(450, height or 600),
    }


async def initial_results(request: Request, text: str) -> dict[str, Any]:
    """The first page of results, for the full picker page."""
    catalog: CatalogIndex = request.app.state.catalog
    try:
        result: SearchResult = await run_in_threadpool(catalog.search, SearchRequest(text=text))
    except FileNotFoundError:
        raise refused("catalog_missing", "The catalog has not been indexed yet.",
                      advice="An administrator must run `marketplace index`.", status=503) from None
    return {"result": result, "hits": [hit_to_json(hit) for hit in result.hits]}


async def picker_results(request: Request) -> Response:
    """GET /lti/picker/results: the results partial (htmx, token in the header)."""
    token = request.headers.get(launch_token.HEADER)
    context = await run_in_threadpool(launch_context, request, token)
    require_role(context)
    search = search_request(request.query_params, as_you_type=bool(request.headers.get("HX-Request")))
    catalog: CatalogIndex = request.app.state.catalog
    result: SearchResult = await run_in_threadpool(catalog.search, search)
    response: Response = request.app.state.templates.TemplateResponse(
        request, "_picker_results.html",
        {"result": result, "hits": [hit_to_json(hit) for hit in result.hits], **picker_context(context)},
    )
    return response


async def respond(request: Request) -> Response:
    """POST /lti/deep-linking/respond: build the content items, sign them now, auto-post to the platform."""
    form = await request.form(max_files=0, max_fields=MAX_SELECTION + 16)
    token = str(form.get("launch_token", "")) or request.headers.get(launch_token.HEADER)
    context = await run_in_threadpool(launch_context, request, token)
    require_role(context)
    if context.deep_linking_settings is None:
        raise refused("not_deep_linking", "This launch cannot return content to the course.", advice="")
    selected = [str(value) for value in form.getlist("resource")][: MAX_SELECTION + 1]
    if len(selected) > MAX_SELECTION:
        raise refused("dl_too_many", f"Select at most {MAX_SELECTION} resources at once.", advice="")
    options = ItemOptions(points=_points(str(form.get("points", ""))))
    settings = DeepLinkingSettings.from_claim(context.deep_linking_settings)
    base_url = request.app.state.settings.base_url
    signing: SigningKeys = request.app.state.signing_keys

    def run() -> str:
        with request.app.state.sessions() as session:
            resources = get_resources(session, selected)
            if len(resources) != len(set(selected)):
                raise refused("dl_unknown_resource", "A selected resource is no longer in the catalog; search again.",
                              advice="")
            items = ContentItemBuilder(settings, placement_of(context), base_url).build(resources, options)
            answered = session.execute(
                update(LaunchRow)
                .where(LaunchRow.id == context.launch_id, LaunchRow.responded_at.is_(None))
                .values(responded_at=utc_now())
            )
            if answered.rowcount != 1:
                raise LtiRefusal("dl_already_answered", "This selection was already sent to the course. Open the "
                                 "tool again from your course to add more.", 409)
            kid, key = signing.active(session)
            session.commit()
        return sign_response(response_claims(context, settings, items), kid, key)

    jwt_value = await run_in_threadpool(run)
    response: Response = request.app.state.templates.TemplateResponse(
        request, "lti_deep_link_return.html", {"return_url": settings.return_url, "jwt": jwt_value}
    )
    response.headers["Cache-Control"] = "no-store"
    return response


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
