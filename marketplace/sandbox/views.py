"""The sandbox LMS's pages: the course, its gradebook, launch starts, the OIDC auth endpoint, its JWKS, the
deep-link return. The services the tool calls (token, AGS, NRPS) are in `marketplace.sandbox.services`.

Every launch is real: the browser goes to the tool's login, back to /sandbox/auth, and posts the id_token to
the tool's launch URL; the tool's signed response comes back to /sandbox/return/{placement}.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from marketplace.sandbox import canvas, gradebook
from marketplace.sandbox.course import (
    Delivery,
    ShownDelivery,
    as_dict,
    canvas_view,
    deliveries_of,
    frame_size,
    item_at,
    link_id,
    safe_url,
)
from marketplace.sandbox.lms import (
    COURSE_ID,
    DEEP_LINK,
    RESOURCE,
    LaunchHint,
    ResourceTarget,
    SandboxRejection,
)
from marketplace.sandbox.registration import CLIENT_ID, DEPLOYMENT_ID
from marketplace.sandbox.services import service_routes
from marketplace.sandbox.state import Sandbox, register, sandbox_of, tool_jwks
from marketplace.web.services import services

MAX_RESPONSE_BYTES = 512 * 1024

DESCRIPTIONS = {
    canvas.EDITOR: "Ada Teacher inserts resources into the course page from the rich content editor.",
    canvas.MODULES: "Ada Teacher adds resources to a module (Modules › Add item › External tool).",
    canvas.ASSIGNMENT: "Ada Teacher creates an assignment backed by a resource, with points.",
    canvas.HOMEWORK: "Sam Student submits a resource as homework.",
}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _problem(request: Request, title: str, problems: list[str], status: int = 400) -> Response:
    response: Response = services(request).templates.TemplateResponse(
        request, "sandbox/problem.html", {"title": title, "problems": problems}, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _page(request: Request, template: str, values: Mapping[str, object]) -> Response:
    response: Response = services(request).templates.TemplateResponse(request, template, dict(values))
    response.headers["Cache-Control"] = "no-store"
    return response


# -- the course page ----------------------------------------------------------------------------------------
async def course_page(request: Request) -> Response:
    """GET /sandbox: the course, its placement buttons, and what the tool sent back so far."""
    sandbox = await sandbox_of(request)
    await run_in_threadpool(register, request)
    deliveries = await run_in_threadpool(sandbox.store.deliveries)
    shown = [canvas_view(delivery) for delivery in deliveries]
    by_placement: dict[str, list[ShownDelivery]] = {placement: [] for placement in canvas.PLACEMENTS}
    for entry in shown:
        by_placement.setdefault(entry.delivery.placement, []).append(entry)
    received = request.query_params.get("received", "")
    opened_at = f"{request.url.scheme}://{request.url.netloc}"
    base_url = str(services(request).settings.base_url)
    page = {
        # Launches go to MARKETPLACE_BASE_URL; opened elsewhere (another port), cookies and keys would not match.
        "base_url_mismatch": None if _origin(base_url) == opened_at else {"opened_at": opened_at, "base_url": base_url},
        "placements": [{"id": placement, "label": canvas.LABELS[placement], "description": DESCRIPTIONS[placement]}
                       for placement in canvas.PLACEMENTS],
        "by_placement": by_placement,
        "shown": list(reversed(shown)),
        "received": next((entry for entry in shown if entry.delivery.id == received), None),
        "labels": canvas.LABELS,
        "users": canvas.USERS,
        "urls": sandbox.platform.urls,
        "client_id": CLIENT_ID,
        "deployment_id": DEPLOYMENT_ID,
        "course_id": COURSE_ID,
    }
    return _page(request, "sandbox/course.html", page)


async def gradebook_page(request: Request) -> Response:
    """GET /sandbox/gradebook: the columns, each student's score, and the score bodies the tool posted."""
    sandbox = await sandbox_of(request)
    data = await run_in_threadpool(sandbox.store.snapshot)
    return _page(request, "sandbox/gradebook.html", {"view": gradebook.gradebook_view(data),
                                                     "urls": sandbox.platform.urls, "course_id": COURSE_ID})


async def reset(request: Request) -> Response:
    """POST /sandbox/reset: forget what came back (not the nonces: a used response stays used)."""
    origin = request.headers.get("origin")
    if origin is not None and origin != _origin(str(services(request).settings.base_url)):
        return _problem(request, "Not cleared", ["Only the sandbox course page can clear the course."], 403)
    sandbox = await sandbox_of(request)
    await run_in_threadpool(sandbox.store.clear)
    return RedirectResponse(str(request.url_for("sandbox_course")), status_code=303)


# -- starting launches --------------------------------------------------------------------------------------
async def start(request: Request) -> Response:
    """GET /sandbox/start/{placement}: the tool's login initiation for a deep-linking launch."""
    placement = request.path_params["placement"]
    if placement not in canvas.PLACEMENTS:
        return _problem(request, "No such placement", [f"The sandbox offers {', '.join(canvas.PLACEMENTS)}."], 404)
    sandbox = await sandbox_of(request)
    await run_in_threadpool(register, request)
    hint = LaunchHint(DEEP_LINK, placement, canvas.user_for(placement).key)
    return _redirect(sandbox.platform.login_url(hint))


async def open_item(request: Request) -> Response:
    """GET /sandbox/open/{delivery}/{index}?as=<user>: a resource-link launch of a returned item, as a student
    (Sam Student unless `as` names another member of the course) or as the teacher."""
    user = request.query_params.get("as", canvas.STUDENT.key)
    if user not in canvas.USERS:
        return _problem(request, "No such course member", [
            f"The sandbox course has {', '.join(canvas.USERS)}; {user!r} is not one of them."], 404)
    sandbox = await sandbox_of(request)
    delivery_id, index = str(request.path_params["delivery"]), int(request.path_params["index"])
    found = await _resource_target(request, sandbox, delivery_id, index)
    if isinstance(found, Response):
        return found
    delivery, target = found
    await run_in_threadpool(register, request)
    hint = LaunchHint(RESOURCE, delivery.placement, user, f"{delivery.id}/{index}")
    return _redirect(sandbox.platform.login_url(hint, target.url))


def _redirect(url: str) -> Response:
    response = RedirectResponse(url, status_code=302)
    response.headers["Cache-Control"] = "no-store"
    return response


async def _resource_target(request: Request, sandbox: Sandbox, delivery_id: str,
                           index: int) -> tuple[Delivery, ResourceTarget] | Response:
    """A stored ltiResourceLink as a launch target, or a problem page."""
    data = await run_in_threadpool(sandbox.store.snapshot)
    delivery = next((entry for entry in deliveries_of(data) if entry.id == delivery_id), None)
    item = item_at(delivery, index) if delivery is not None else None
    if delivery is None or item is None or item.get("type") != "ltiResourceLink":
        return _problem(request, "No such link", ["The course has no tool link at this address any more."], 404)
    base_url = services(request).settings.base_url
    url = safe_url(item.get("url"))
    if url is None or not url.startswith(base_url + "/"):
        return _problem(request, "Not this tool's link", [f"The link's URL {item.get('url')!r} is not part of the tool "
                                                         f"at {base_url}, so the sandbox will not launch it."])
    custom, frame = as_dict(item.get("custom")), as_dict(item.get("iframe"))
    width, height = canvas.FRAME_SIZE
    column = gradebook.column_of_link(data, delivery.id, index)
    target = ResourceTarget(
        link_id=link_id(delivery.id, index),
        title=str(item.get("title") or "Tool link"),
        url=url,
        # Canvas keeps only scalar custom values, and launches with them as strings.
        custom={str(key): str(value) for key, value in custom.items() if isinstance(value, str | int | float | bool)},
        width=frame_size(frame.get("width")) or width,
        height=frame_size(frame.get("height")) or height,
        lineitem=sandbox.platform.urls.lineitem(COURSE_ID, column.id) if column is not None else None,
    )
    return delivery, target


# -- the platform's OIDC endpoints --------------------------------------------------------------------------
async def auth(request: Request) -> Response:
    """GET /sandbox/auth: the OIDC authorization endpoint; answers a valid request with the id_token form."""
    sandbox = await sandbox_of(request)
    params = {key: value for key, value in request.query_params.items()}
    try:
        hint = sandbox.platform.check_auth_request(params)
    except SandboxRejection as rejection:
        return _problem(request, "The tool's authentication request was refused", rejection.problems)
    target: ResourceTarget | None = None
    if hint.kind == RESOURCE:
        delivery_id, _, index = (hint.item or "").partition("/")
        found = await _resource_target(request, sandbox, delivery_id, int(index) if index.isdigit() else -1)
        if isinstance(found, Response):
            return found
        target = found[1]
    form = await run_in_threadpool(sandbox.platform.launch_form, params, hint, target)
    response: Response = services(request).templates.TemplateResponse(
        request, "sandbox/launch.html", {"action": form.action, "fields": form.fields,
                                         "user": canvas.USERS[hint.user], "label": canvas.LABELS[hint.placement],
                                         "resource": target})
    response.headers["Cache-Control"] = "no-store"
    return response


async def jwks(request: Request) -> Response:
    """GET /sandbox/jwks: the sandbox platform's public key."""
    sandbox = await sandbox_of(request)
    return JSONResponse(sandbox.platform.jwks(), headers={"Cache-Control": "no-store"})


# -- the deep-linking return --------------------------------------------------------------------------------
async def receive(request: Request) -> Response:
    """POST /sandbox/return/{placement}: verify the tool's signed response, keep its items, show the course."""
    placement = request.path_params["placement"]
    if placement not in canvas.PLACEMENTS:
        return _problem(request, "No such placement", [f"The sandbox offers {', '.join(canvas.PLACEMENTS)}."], 404)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_RESPONSE_BYTES:
        return _problem(request, "The response was refused", ["It is too large to be a deep-linking response."], 413)
    form = await request.form(max_files=0, max_fields=8, max_part_size=MAX_RESPONSE_BYTES)
    token = form.get("JWT")
    if not isinstance(token, str) or not token:
        return _problem(request, "The response was refused", ["The form has no JWT field."])
    sandbox = await sandbox_of(request)
    keys = await run_in_threadpool(tool_jwks, request)
    try:
        body = await run_in_threadpool(sandbox.platform.verify_response, token, placement, keys)
    except SandboxRejection as rejection:
        return _problem(request, "The tool's deep-linking response was refused", rejection.problems)
    items = [item for item in body.get(canvas.CONTENT_ITEMS, []) if isinstance(item, dict)]
    delivery = Delivery.new(placement, canvas.user_for(placement).key, items, body)
    # Columns for graded items are created with the delivery, as Canvas creates the assignment with the link.
    added = await run_in_threadpool(sandbox.store.add, delivery, str(body["nonce"]),
                                    lambda data: gradebook.add_deep_link_columns(data, delivery))
    if not added:
        return _problem(request, "The response was refused", [
            "This response was already received; Canvas takes each one once. Open the tool again."], 409)
    url = str(request.url_for("sandbox_course").include_query_params(received=delivery.id))
    return RedirectResponse(f"{url}#{placement}", status_code=303)


def sandbox_routes() -> list[Route]:
    """The sandbox's routes, all under /sandbox; mount only when `sandbox_enabled(settings)`."""
    return [
        Route("/sandbox", course_page, name="sandbox_course"),
        Route("/sandbox/gradebook", gradebook_page, name="sandbox_gradebook"),
        Route("/sandbox/reset", reset, methods=["POST"], name="sandbox_reset"),
        Route("/sandbox/start/{placement:str}", start, name="sandbox_start"),
        Route("/sandbox/open/{delivery:str}/{index:int}", open_item, name="sandbox_open"),
        Route("/sandbox/auth", auth, name="sandbox_auth"),
        Route("/sandbox/jwks", jwks, name="sandbox_jwks"),
        Route("/sandbox/return/{placement:str}", receive, methods=["POST"], name="sandbox_return"),
        *service_routes(),
    ]
