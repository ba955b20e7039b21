"""The services the tool calls on the sandbox, as Canvas serves them (shared reference, section 3): the token
endpoint, AGS line items, scores and results, and Names and Roles, all for the one sandbox course.

Errors come in Canvas's shapes: OAuth's `{"error", "error_description"}` from the token endpoint, and
`{"errors": {"type", "message"}}` from the services. Lists are paged with `limit` and a `Link: <…>; rel="next"`
header; the default page is small on purpose, so a tool that ignores the header misses members or results.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from lti1p3platform.membership import Context, ContextMembership, Status  # type: ignore[import-untyped]
from lti1p3platform.utils import dataclass_to_dict  # type: ignore[import-untyped]
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from marketplace.sandbox import canvas, gradebook
from marketplace.sandbox.gradebook import AgsError, LineItem, Result
from marketplace.sandbox.lms import COURSE_ID, COURSE_LABEL, COURSE_TITLE, AccessRefused, TokenRefusal
from marketplace.sandbox.registration import SandboxUrls
from marketplace.sandbox.state import Sandbox, sandbox_of, tool_jwks

LINEITEM = "application/vnd.ims.lis.v2.lineitem+json"
LINEITEMS = "application/vnd.ims.lis.v2.lineitemcontainer+json"
SCORE = "application/vnd.ims.lis.v1.score+json"
RESULTS = "application/vnd.ims.lis.v2.resultcontainer+json"
MEMBERSHIPS = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
DEFAULT_PAGE = 2
MAX_PAGE = 100
MAX_BODY_BYTES = 64 * 1024
NO_STORE = {"Cache-Control": "no-store"}
ERROR_TYPES = {400: "bad_request", 401: "unauthorized", 404: "not_found", 412: "precondition_failed",
               413: "payload_too_large", 415: "unsupported_media_type", 422: "unprocessable_entity"}


def _canvas_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"errors": {"type": ERROR_TYPES.get(status, "error"), "message": message}},
                        status_code=status, headers=NO_STORE)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


# -- the token endpoint -------------------------------------------------------------------------------------
async def token(request: Request) -> Response:
    """POST /sandbox/token: an access token for a client_credentials request with a valid client assertion."""
    if _media_type(request) != "application/x-www-form-urlencoded":
        return _oauth_error(TokenRefusal(400, "invalid_request", "The request must be form-encoded "
                                                                 "(application/x-www-form-urlencoded)."))
    form = await request.form(max_files=0, max_fields=16, max_part_size=MAX_BODY_BYTES)
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    sandbox = await sandbox_of(request)
    keys = await run_in_threadpool(tool_jwks, request)
    try:
        answer = await run_in_threadpool(sandbox.platform.issue_token, fields, keys, sandbox.store.use_jti)
    except TokenRefusal as refusal:
        return _oauth_error(refusal)
    return JSONResponse(answer, headers={**NO_STORE, "Pragma": "no-cache"})


def _oauth_error(refusal: TokenRefusal) -> JSONResponse:
    return JSONResponse({"error": refusal.error, "error_description": refusal.description},
                        status_code=refusal.status, headers={**NO_STORE, "Pragma": "no-cache"})


# -- shared checks -------------------------------------------------------------------------------------------
async def _authorized(request: Request, *scopes: str) -> Sandbox | Response:
    """The sandbox when the request is for its course and carries a token with one of `scopes`."""
    if request.path_params["course"] != COURSE_ID:
        return _canvas_error(404, f"The course {request.path_params['course']!r} does not exist.")
    sandbox = await sandbox_of(request)
    try:
        sandbox.platform.check_access_token(request.headers.get("authorization"), scopes)
    except AccessRefused as refusal:
        return _canvas_error(401, str(refusal))
    return sandbox


async def _json_body(request: Request, *media_types: str) -> Any:
    """The JSON body of a POST of one of `media_types`; AgsError otherwise."""
    if _media_type(request) not in media_types:
        raise AgsError(415, f"Content-Type must be {' or '.join(media_types)}, not {_media_type(request) or 'none'}.")
    raw = bytearray()
    async for chunk in request.stream():  # read no more than the limit, whatever Content-Length says
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise AgsError(413, "The body is too large.")
    try:
        return json.loads(raw)
    except ValueError:
        raise AgsError(400, "The body is not JSON.") from None


def _page(request: Request, items: list[Any], url: str) -> tuple[list[Any], dict[str, str]]:
    """One page of `items` (`limit`, `page`) and, when more follow, the Link header naming the next page at
    `url` with the request's other parameters kept."""
    def number(name: str, default: int) -> int:
        raw = request.query_params.get(name, "")
        return int(raw) if raw.isdigit() and int(raw) > 0 else default

    limit, page = min(number("limit", DEFAULT_PAGE), MAX_PAGE), number("page", 1)
    start = (page - 1) * limit
    headers = dict(NO_STORE)
    if start + limit < len(items):
        params = [(key, value) for key, value in request.query_params.multi_items() if key not in {"limit", "page"}]
        following = f"{url}?{urlencode([*params, ('limit', str(limit)), ('page', str(page + 1))])}"
        headers["Link"] = f'<{following}>; rel="next"'
    return items[start:start + limit], headers


def _line_item_json(urls: SandboxUrls, item: LineItem) -> dict[str, Any]:
    body = {"id": urls.lineitem(COURSE_ID, item.id), "scoreMaximum": item.score_maximum, "label": item.label,
            "resourceId": item.resource_id, "tag": item.tag, "resourceLinkId": item.resource_link_id}
    return {key: value for key, value in body.items() if value is not None}  # Canvas leaves out what is unset


def _result_json(urls: SandboxUrls, item: LineItem, result: Result) -> dict[str, Any]:
    scored = urls.lineitem(COURSE_ID, item.id)
    body = {"id": f"{scored}/results/{result.user_id}", "scoreOf": scored, "userId": result.user_id,
            "resultScore": result.score, "resultMaximum": item.score_maximum, "comment": result.comment}
    return {key: value for key, value in body.items() if value is not None}


async def _line_item(request: Request, sandbox: Sandbox) -> LineItem | Response:
    data = await run_in_threadpool(sandbox.store.snapshot)
    item = gradebook.find_line_item(data, str(request.path_params["item"]))
    return item if item is not None else _canvas_error(404, "The line item was not found.")


# -- AGS ----------------------------------------------------------------------------------------------------
async def line_items(request: Request) -> Response:
    """GET (list, filtered and paged) or POST (create) /sandbox/api/lti/courses/{course}/line_items."""
    if request.method == "POST":
        return await _create_line_item(request)
    found = await _authorized(request, canvas.SCOPE_LINEITEM, canvas.SCOPE_LINEITEM_READ)
    if isinstance(found, Response):
        return found
    data = await run_in_threadpool(found.store.snapshot)
    query = request.query_params
    items = gradebook.filter_line_items(gradebook.line_items(data), resource_link_id=query.get("resource_link_id"),
                                        tag=query.get("tag"), resource_id=query.get("resource_id"))
    urls = found.platform.urls
    page, headers = _page(request, items, urls.lineitems(COURSE_ID))
    return JSONResponse([_line_item_json(urls, item) for item in page], headers=headers, media_type=LINEITEMS)


async def _create_line_item(request: Request) -> Response:
    found = await _authorized(request, canvas.SCOPE_LINEITEM)
    if isinstance(found, Response):
        return found
    try:
        body = await _json_body(request, LINEITEM, "application/json")
        item = await run_in_threadpool(found.store.update, lambda data: gradebook.create_line_item(data, body))
    except AgsError as refusal:
        return _canvas_error(refusal.status, refusal.message)
    return JSONResponse(_line_item_json(found.platform.urls, item), status_code=201, headers=NO_STORE,
                        media_type=LINEITEM)


async def line_item(request: Request) -> Response:
    """GET /sandbox/api/lti/courses/{course}/line_items/{item}."""
    found = await _authorized(request, canvas.SCOPE_LINEITEM, canvas.SCOPE_LINEITEM_READ)
    if isinstance(found, Response):
        return found
    item = await _line_item(request, found)
    if isinstance(item, Response):
        return item
    return JSONResponse(_line_item_json(found.platform.urls, item), headers=NO_STORE, media_type=LINEITEM)


async def scores(request: Request) -> Response:
    """POST …/line_items/{item}/scores: a student's score, checked and applied as Canvas does."""
    found = await _authorized(request, canvas.SCOPE_SCORE)
    if isinstance(found, Response):
        return found
    item = await _line_item(request, found)
    if isinstance(item, Response):
        return item
    try:
        body = await _json_body(request, SCORE)
    except AgsError as refusal:
        return _canvas_error(refusal.status, refusal.message)
    now = datetime.now(UTC)
    outcome = await run_in_threadpool(found.store.update,
                                      lambda data: gradebook.receive_score(data, item.id, body, now))
    if isinstance(outcome, AgsError):
        return _canvas_error(outcome.status, outcome.message)
    result_url = f"{found.platform.urls.lineitem(COURSE_ID, item.id)}/results/{outcome.user_id}"
    return JSONResponse({"resultUrl": result_url}, headers=NO_STORE)


async def results(request: Request) -> Response:
    """GET …/line_items/{item}/results (optionally `user_id`), paged."""
    found = await _authorized(request, canvas.SCOPE_RESULT_READ)
    if isinstance(found, Response):
        return found
    item = await _line_item(request, found)
    if isinstance(item, Response):
        return item
    data = await run_in_threadpool(found.store.snapshot)
    urls = found.platform.urls
    kept = gradebook.results_of(data, item.id, request.query_params.get("user_id"))
    page, headers = _page(request, kept, f"{urls.lineitem(COURSE_ID, item.id)}/results")
    return JSONResponse([_result_json(urls, item, result) for result in page], headers=headers,
                        media_type=RESULTS)


async def result(request: Request) -> Response:
    """GET …/line_items/{item}/results/{user}: the result a score POST named in its resultUrl."""
    found = await _authorized(request, canvas.SCOPE_RESULT_READ)
    if isinstance(found, Response):
        return found
    item = await _line_item(request, found)
    if isinstance(item, Response):
        return item
    data = await run_in_threadpool(found.store.snapshot)
    kept = gradebook.results_of(data, item.id, str(request.path_params["user"]))
    if not kept:
        return _canvas_error(404, "The result was not found.")
    return JSONResponse(_result_json(found.platform.urls, item, kept[0]), headers=NO_STORE,
                        media_type="application/vnd.ims.lis.v2.result+json")


# -- Names and Roles ------------------------------------------------------------------------------------------
def _member(user: canvas.SandboxUser) -> dict[str, Any]:
    return {"status": Status.ACTIVE.value, "name": user.name, "given_name": user.given_name,
            "family_name": user.family_name, "email": user.email, "user_id": user.sub,
            "lti11_legacy_user_id": "", "roles": canvas.membership_roles(user)}


def _has_role(user: canvas.SandboxUser, role: str) -> bool:
    """NRPS's `role` filter: a full role URI, or its short name (`Learner`)."""
    return any(held == role or held.rsplit("#", 1)[-1] == role for held in canvas.membership_roles(user))


async def memberships(request: Request) -> Response:
    """GET /sandbox/api/lti/courses/{course}/names_and_roles: the course roster, paged."""
    found = await _authorized(request, canvas.SCOPE_MEMBERSHIP)
    if isinstance(found, Response):
        return found
    role = request.query_params.get("role")
    members = [_member(user) for user in canvas.USERS.values() if role is None or _has_role(user, role)]
    url = found.platform.urls.memberships(COURSE_ID)
    page, headers = _page(request, members, url)
    # The container as lti1p3platform shapes it: {"id", "context": {"id", "label", "title"}}, then the members.
    body: dict[str, Any] = dataclass_to_dict(ContextMembership(id=url, context=Context(
        id=COURSE_ID, label=COURSE_LABEL, title=COURSE_TITLE)))
    body["members"] = page
    return JSONResponse(body, headers=headers, media_type=MEMBERSHIPS)


def service_routes() -> list[Route]:
    """The token endpoint and the course's AGS and NRPS services."""
    api = "/sandbox/api/lti/courses/{course:str}"
    return [
        Route("/sandbox/token", token, methods=["POST"], name="sandbox_token"),
        Route(f"{api}/line_items", line_items, methods=["GET", "POST"], name="sandbox_line_items"),
        Route(f"{api}/line_items/{{item:str}}", line_item, name="sandbox_line_item"),
        Route(f"{api}/line_items/{{item:str}}/scores", scores, methods=["POST"], name="sandbox_scores"),
        Route(f"{api}/line_items/{{item:str}}/results", results, name="sandbox_results"),
        Route(f"{api}/line_items/{{item:str}}/results/{{user:str}}", result, name="sandbox_result"),
        Route(f"{api}/names_and_roles", memberships, name="sandbox_memberships"),
    ]
