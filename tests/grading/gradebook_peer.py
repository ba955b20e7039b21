"""The platform's grade services on loopback: token endpoint, AGS line items, scores and results, and NRPS.

Tokens are issued and checked by `lti1p3platform` (its `get_access_token` fetches the tool's JWKS over HTTP, as
Moodle does); the library checks little, so this peer adds the strict checks itself and records every problem
in `problems` (tests assert it stays empty): the assertion's `aud` must be exactly the token URL, `iss` and
`sub` the client_id, `iat` fresh, `jti` never reused; each service call needs a bearer token with the right
scope and the right media types; a score must be exactly the shape the AGS spec and Canvas want.

Two URL styles: "canvas" (`/api/lti/courses/<c>/line_items/<id>`) and "moodle" (line item URLs that carry a
query, `…/lineitems/<id>/lineitem?type_id=1`, so scores go to `…/lineitem/scores?type_id=1`).
Faults can be injected per kind of call (status, headers, body, delay) and as an outage window.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import jwt
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.registration import Registration
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.lti.peer import PlatformPeer

LINEITEM = "application/vnd.ims.lis.v2.lineitem+json"
LINEITEMS = "application/vnd.ims.lis.v2.lineitemcontainer+json"
SCORE = "application/vnd.ims.lis.v1.score+json"
RESULTS = "application/vnd.ims.lis.v2.resultcontainer+json"
MEMBERSHIPS = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
AGS = "https://purl.imsglobal.org/spec/lti-ags/scope/"
SCOPE_LINEITEM = AGS + "lineitem"
SCOPE_LINEITEM_READ = AGS + "lineitem.readonly"
SCOPE_RESULT = AGS + "result.readonly"
SCOPE_SCORE = AGS + "score"
SCOPE_NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
ALL_SCOPES = [SCOPE_LINEITEM, SCOPE_LINEITEM_READ, SCOPE_RESULT, SCOPE_SCORE]
SCOPE_NOTICES = "https://purl.imsglobal.org/spec/lti/scope/noticehandlers"
CANVAS_SUBMISSION = "https://canvas.instructure.com/lti/submission"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
ISO_WITH_FRACTION = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+(Z|[+-]\d\d:\d\d)$")


class _Conf(LTI1P3PlatformConfAbstract):
    def init_platform_config(self, **kwargs: Any) -> None:
        self._registration = kwargs["registration"]

    def get_registration_by_params(self, **kwargs: Any) -> Registration:
        return self._registration


@dataclass
class Fault:
    """Answer the next `count` calls of `kind` (token, list, create, score, results, members, any) like this."""

    kind: str
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    count: int = 1


@dataclass
class LineItemState:
    id: int
    course: str
    label: str
    score_maximum: float
    resource_id: str | None
    tag: str | None
    resource_link_id: str | None


class GradebookPeer:
    """The services of the loopback platform; plug it into a PlatformPeer with `peer.services = gb.app()`."""

    def __init__(self, peer: PlatformPeer, tool_url: str, *, style: str = "canvas", page_size: int = 2) -> None:
        self.peer = peer
        self.base = peer.issuer
        self.tool_url = tool_url
        self.style = style
        self.page_size = page_size
        self.token_url = self.base + "/token"
        self.problems: list[str] = []
        self.token_requests: list[dict[str, str]] = []
        self.granted: dict[str, list[str]] = {}
        self.revoked: set[str] = set()
        self.seen_jti: set[str] = set()
        self.line_items: dict[int, LineItemState] = {}
        self.creations: list[dict[str, Any]] = []
        self.scores: list[dict[str, Any]] = []  # every accepted score body, with "_lineitem"
        self.score_calls = 0
        self.scores_in_flight = 0
        self.results: dict[tuple[int, str], dict[str, Any]] = {}
        self.members: dict[str, list[dict[str, Any]]] = {}
        # Canvas: resourceLinkId is accepted on creation only for links that have an assignment.
        self.links_with_assignment: set[str] | None = None
        self.faults: deque[Fault] = deque()
        self.outage_until = 0.0
        self.calls: list[tuple[str, str]] = []  # (kind, url) of every service call, in order
        self.scopes_offered = list(ALL_SCOPES) + [SCOPE_NRPS, SCOPE_NOTICES]
        self.notice_handlers: dict[str, str] = {}  # notice type -> handler URL (Canvas: one per type)
        self.hello_deliveries: list[int] = []  # statuses of the hello-world notices sent on subscription
        self._next_id = 1

    # -- URLs and claims ---------------------------------------------------------------------------------
    def lineitems_url(self, course: str) -> str:
        if self.style == "moodle":
            return f"{self.base}/mod/lti/services.php/{course}/lineitems?type_id=1"
        return f"{self.base}/api/lti/courses/{course}/line_items"

    def lineitem_url(self, item_id: int) -> str:
        course = self.line_items[item_id].course
        if self.style == "moodle":
            return f"{self.base}/mod/lti/services.php/{course}/lineitems/{item_id}/lineitem?type_id=1"
        return f"{self.base}/api/lti/courses/{course}/line_items/{item_id}"

    def memberships_url(self, course: str) -> str:
        return f"{self.base}/api/lti/courses/{course}/names_and_roles"

    def ags_claim(self, course: str, *, lineitem: int | None = None, scopes: list[str] | None = None) -> dict[str, Any]:
        claim: dict[str, Any] = {"scope": list(ALL_SCOPES if scopes is None else scopes),
                                 "lineitems": self.lineitems_url(course)}
        if lineitem is not None:
            claim["lineitem"] = self.lineitem_url(lineitem)
        return claim

    def nrps_claim(self, course: str) -> dict[str, Any]:
        return {"context_memberships_url": self.memberships_url(course), "service_versions": ["2.0"]}

    def add_line_item(self, course: str, label: str, score_maximum: float, *, resource_id: str | None = None,
                      tag: str | None = None, resource_link_id: str | None = None) -> int:
        item_id = self._next_id
        self._next_id += 1
        self.line_items[item_id] = LineItemState(item_id, course, label, score_maximum, resource_id, tag,
                                                 resource_link_id)
        return item_id

    def add_members(self, course: str, *members: tuple[str, str, str]) -> None:
        """(user_id, name, role) — role "learner" or "instructor"."""
        self.members.setdefault(course, []).extend(
            {"user_id": user_id, "name": name, "status": "Active",
             "roles": [LEARNER if role == "learner" else INSTRUCTOR]} for user_id, name, role in members)

    def scores_for(self, user_id: str) -> list[dict[str, Any]]:
        return [score for score in self.scores if score["userId"] == user_id]

    # -- faults --------------------------------------------------------------------------------------------
    async def _fault(self, kind: str) -> Response | None:
        self.calls.append((kind, ""))
        if kind != "token" and time.monotonic() < self.outage_until:
            return JSONResponse({"errors": {"type": "unavailable", "message": "Service Unavailable"}}, 503)
        for fault in list(self.faults):
            if fault.kind in {kind, "any"}:
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                if fault.delay:
                    await asyncio.sleep(fault.delay)
                if fault.status == 0:  # delay only (a timeout when longer than the client waits)
                    return None
                body = fault.body if fault.body is not None else {"errors": {"message": f"Injected {fault.status}"}}
                if isinstance(body, str):
                    return Response(body, fault.status, headers=fault.headers, media_type="text/plain")
                return JSONResponse(body, fault.status, headers=fault.headers)
        return None

    # -- token endpoint ------------------------------------------------------------------------------------
    def _conf(self) -> _Conf:
        registration = self.peer.registration()
        registration.set_tool_key_set_url(self.tool_url + "/lti/jwks")
        return _Conf(registration=registration)

    async def token(self, request: Request) -> Response:
        fault = await self._fault("token")
        if fault is not None:
            return fault
        if request.headers.get("content-type", "").split(";")[0] != "application/x-www-form-urlencoded":
            self.problems.append("token request is not form-encoded")
        form = {key: str(value) for key, value in (await request.form()).items()}
        self.token_requests.append(form)
        if form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            return JSONResponse({"error": "invalid_request",
                                 "error_description": "assertion method not supported for this grant_type"}, 400)
        assertion = form.get("client_assertion", "")
        try:
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return JSONResponse({"error": "invalid_request", "error_description": "not a JWT"}, 400)
        now = time.time()
        checks = {
            "aud is the token URL exactly": unverified.get("aud") == self.token_url,
            "iss is the client_id": unverified.get("iss") == self.peer.client_id,
            "sub is the client_id": unverified.get("sub") == self.peer.client_id,
            "iat is fresh": isinstance(unverified.get("iat"), int) and now - 300 <= unverified["iat"] <= now + 30,
            "exp is in the future": isinstance(unverified.get("exp"), int) and unverified["exp"] > now,
            "jti is new": bool(unverified.get("jti")) and unverified.get("jti") not in self.seen_jti,
            "kid header": bool(jwt.get_unverified_header(assertion).get("kid")),
        }
        failed = [name for name, ok in checks.items() if not ok]
        if failed:
            self.problems.extend(f"token assertion: {name}" for name in failed)
            return JSONResponse({"error": "invalid_client", "error_description": "; ".join(failed)}, 401)
        self.seen_jti.add(str(unverified["jti"]))
        try:
            # The library verifies the signature with the tool's JWKS, fetched over HTTP, and grants scopes.
            answer = await run_in_threadpool(self._conf().get_access_token, form)
            while answer["access_token"] in self.revoked:
                # The library's tokens have no jti: one issued in the same second as a revoked one is that very
                # token. Real platforms never hand out a revoked token again, so wait for a new second.
                await asyncio.sleep(0.2)
                answer = await run_in_threadpool(self._conf().get_access_token, form)
        except Exception as error:  # the library raises several kinds
            self.problems.append(f"token refused by the library: {error}")
            return JSONResponse({"error": "invalid_client", "error_description": str(error)}, 401)
        # The library grants only AGS and NRPS scopes; this peer grants the notice handlers scope itself.
        asked = set(form.get("scope", "").split())
        granted = [scope for scope in answer["scope"].split() if scope in self.scopes_offered]
        if SCOPE_NOTICES in asked and SCOPE_NOTICES in self.scopes_offered:
            granted.append(SCOPE_NOTICES)
        if set(form.get("scope", "").split()) - set(self.scopes_offered):
            return JSONResponse({"error": "invalid_scope", "error_description": "scope not allowed"}, 400)
        self.granted[answer["access_token"]] = granted
        return JSONResponse({"access_token": answer["access_token"], "token_type": "Bearer",
                             "expires_in": answer["expires_in"], "scope": " ".join(granted)})

    def _authorized(self, request: Request, scopes: list[str]) -> Response | None:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        if not token or token in self.revoked:
            return JSONResponse({"errors": {"type": "unauthorized", "message": "Access token expired"}}, 401)
        try:
            library_scopes = [scope for scope in scopes if scope != SCOPE_NOTICES]  # see token()
            valid = self._conf().validate_token(token, allowed_scopes=library_scopes or None)
        except Exception:
            valid = False
        if not valid or not set(scopes) & set(self.granted.get(token, [])):
            return JSONResponse({"errors": {"type": "unauthorized", "message": "Insufficient permissions"}}, 401)
        return None

    def _accepts(self, request: Request, media_type: str, what: str) -> None:
        accept = request.headers.get("accept", "")
        if media_type not in accept:
            self.problems.append(f"{what}: Accept {accept!r} lacks {media_type}")

    # -- line items ----------------------------------------------------------------------------------------
    def _item_json(self, item: LineItemState) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.lineitem_url(item.id), "scoreMaximum": item.score_maximum,
                                "label": item.label}
        for name, value in (("resourceId", item.resource_id), ("tag", item.tag),
                            ("resourceLinkId", item.resource_link_id)):
            if value is not None:
                body[name] = value
        return body

    def _moodle_query(self, request: Request) -> bool:
        if self.style == "moodle" and request.query_params.get("type_id") != "1":
            self.problems.append(f"the query of a Moodle URL was lost: {request.url}")
            return False
        return True

    async def line_items_endpoint(self, request: Request) -> Response:
        course = request.path_params["course"]
        if request.method == "POST":
            fault = await self._fault("create")
            if fault is not None:
                return fault
            denied = self._authorized(request, [SCOPE_LINEITEM])
            if denied:
                return denied
            if request.headers.get("content-type", "").split(";")[0] != LINEITEM:
                self.problems.append("line item created without its media type")
            body = await request.json()
            self.creations.append(body)
            if not isinstance(body.get("scoreMaximum"), int | float) or not body.get("label"):
                return JSONResponse({"errors": {"message": "scoreMaximum and label are required"}}, 400)
            link = body.get("resourceLinkId")
            if link is not None and self.links_with_assignment is not None and link not in self.links_with_assignment:
                # Canvas: a resource link without an assignment (editor embed, module item) cannot be used.
                return JSONResponse({"errors": {"type": "precondition_failed",
                                                "message": "The specified LTI link ID is not associated with "
                                                           "a line item."}}, 412)
            item_id = self.add_line_item(course, str(body["label"]), float(body["scoreMaximum"]),
                                         resource_id=body.get("resourceId"), tag=body.get("tag"),
                                         resource_link_id=link)
            return JSONResponse(self._item_json(self.line_items[item_id]), 201, media_type=LINEITEM)
        fault = await self._fault("list")
        if fault is not None:
            return fault
        denied = self._authorized(request, [SCOPE_LINEITEM, SCOPE_LINEITEM_READ])
        if denied:
            return denied
        self._accepts(request, LINEITEMS, "line item list")
        self._moodle_query(request)
        params = request.query_params
        items = [item for item in self.line_items.values() if item.course == course]
        for name, attribute in (("resource_link_id", "resource_link_id"), ("tag", "tag"),
                                ("resource_id", "resource_id")):
            if name in params:
                items = [item for item in items if getattr(item, attribute) == params[name]]
        return self._page(request, [self._item_json(item) for item in items], LINEITEMS)

    def _page(self, request: Request, everything: list[Any], media_type: str, key: str | None = None,
              extra: dict[str, Any] | None = None) -> Response:
        page = int(request.query_params.get("page", "1"))
        if page > 1 and request.query_params.get("Cursor") != "AbC":
            self.problems.append(f"the next-page URL was not followed exactly: {request.url}")
        start = (page - 1) * self.page_size
        chunk = everything[start:start + self.page_size]
        headers = {}
        if start + self.page_size < len(everything):
            query = {key: value for key, value in request.query_params.items() if key != "Cursor"}
            query["page"] = str(page + 1)
            # Mixed case on purpose: the tool must follow the URL exactly as sent.
            next_url = f"{self.base}{request.url.path}?{urlencode(query)}&Cursor=AbC"
            headers["Link"] = f'<{next_url}>; rel="next"'
        body: Any = chunk if key is None else {**(extra or {}), key: chunk}
        return JSONResponse(body, headers=headers, media_type=media_type)

    def _item(self, request: Request) -> LineItemState | None:
        item = self.line_items.get(int(request.path_params["item"]))
        return item if item is not None and item.course == request.path_params["course"] else None

    async def line_item_endpoint(self, request: Request) -> Response:
        item = self._item(request)
        denied = self._authorized(request, [SCOPE_LINEITEM, SCOPE_LINEITEM_READ])
        if denied:
            return denied
        if item is None:
            return JSONResponse({"errors": {"message": "The specified resource does not exist."}}, 404)
        return JSONResponse(self._item_json(item), media_type=LINEITEM)

    async def scores_endpoint(self, request: Request) -> Response:
        self.score_calls += 1
        self.scores_in_flight += 1
        try:
            await request.body()  # read before any injected delay, as a real server would
            return await self._score(request)
        except ClientDisconnect:  # the tool died before its request was whole: nothing arrived
            return Response(status_code=499)
        finally:
            self.scores_in_flight -= 1

    async def _score(self, request: Request) -> Response:
        fault = await self._fault("score")
        if fault is not None:
            return fault
        denied = self._authorized(request, [SCOPE_SCORE])
        if denied:
            return denied
        item = self._item(request)
        if item is None or not self._moodle_query(request):
            return JSONResponse({"errors": {"message": "The specified resource does not exist."}}, 404)
        if request.headers.get("content-type", "").split(";")[0] != SCORE:
            self.problems.append(f"score posted as {request.headers.get('content-type')!r}")
            return JSONResponse({"errors": {"message": "wrong content type"}}, 415)
        body = await request.json()
        problems = self._check_score(body)
        if problems:
            self.problems.extend(problems)
            return JSONResponse({"errors": {"message": "; ".join(problems)}}, 400)
        user = body["userId"]
        learners = {m["user_id"] for m in self.members.get(item.course, []) if LEARNER in m["roles"]}
        if self.members.get(item.course) is not None and user not in learners:
            return JSONResponse({"errors": {"type": "unprocessable_entity",
                                            "message": "User not found in course or is not a student"}}, 422)
        stamp = datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00"))
        previous = self.results.get((item.id, user))
        if previous is not None and stamp < previous["timestamp"]:
            return JSONResponse({"errors": {"type": "bad_request", "message": (
                f"Provided timestamp of {body['timestamp']} before last updated timestamp of "
                f"{previous['timestamp'].isoformat()}")}}, 400)
        self.scores.append({**body, "_lineitem": item.id})
        self.results[(item.id, user)] = {"score": body["scoreGiven"], "maximum": body["scoreMaximum"],
                                         "timestamp": stamp}
        return JSONResponse({"resultUrl": f"{self.lineitem_url(item.id)}/results/{user}"})

    def _check_score(self, body: Any) -> list[str]:
        if not isinstance(body, dict):
            return ["score body is not an object"]
        problems = []
        expected = {"userId", "scoreGiven", "scoreMaximum", "activityProgress", "gradingProgress", "timestamp",
                    "submission"}
        if self.style == "canvas":
            expected.add(CANVAS_SUBMISSION)
        if set(body) != expected:
            problems.append(f"score members {sorted(body)} differ from {sorted(expected)}")
        if not isinstance(body.get("userId"), str) or not body.get("userId"):
            problems.append("userId missing")
        given, maximum = body.get("scoreGiven"), body.get("scoreMaximum")
        if not isinstance(given, int | float) or given < 0:
            problems.append("scoreGiven missing or negative (a Canvas score without it clears the grade)")
        if not isinstance(maximum, int | float) or maximum <= 0:
            problems.append("scoreMaximum missing")
        if body.get("activityProgress") != "Completed" or body.get("gradingProgress") != "FullyGraded":
            problems.append("progress is not Completed/FullyGraded")
        stamp = body.get("timestamp")
        if not isinstance(stamp, str) or not ISO_WITH_FRACTION.match(stamp):
            problems.append(f"timestamp {stamp!r} is not ISO 8601 with sub-second precision")
        submission = body.get("submission")
        if not isinstance(submission, dict) or not ISO_WITH_FRACTION.match(str(submission.get("submittedAt"))):
            problems.append("submission.submittedAt missing")
        if self.style == "canvas":
            extension = body.get(CANVAS_SUBMISSION)
            if not isinstance(extension, dict) or extension.get("new_submission") is not True or \
                    extension.get("prioritize_non_tool_grade") is not True or not extension.get("submitted_at"):
                problems.append(f"Canvas submission extension wrong: {extension!r}")
        return problems

    async def results_endpoint(self, request: Request) -> Response:
        fault = await self._fault("results")
        if fault is not None:
            return fault
        denied = self._authorized(request, [SCOPE_RESULT])
        if denied:
            return denied
        item = self._item(request)
        if item is None or not self._moodle_query(request):
            return JSONResponse({"errors": {"message": "The specified resource does not exist."}}, 404)
        self._accepts(request, RESULTS, "results")
        wanted = request.query_params.get("user_id")
        found = [{"id": f"{self.lineitem_url(item.id)}/results/{user}", "scoreOf": self.lineitem_url(item.id),
                  "userId": user, "resultScore": result["score"] * item.score_maximum / result["maximum"],
                  "resultMaximum": item.score_maximum}
                 for (item_id, user), result in self.results.items()
                 if item_id == item.id and (wanted is None or user == wanted)]
        return self._page(request, found, RESULTS)

    async def members_endpoint(self, request: Request) -> Response:
        fault = await self._fault("members")
        if fault is not None:
            return fault
        denied = self._authorized(request, [SCOPE_NRPS])
        if denied:
            return denied
        self._accepts(request, MEMBERSHIPS, "memberships")
        course = request.path_params["course"]
        return self._page(request, self.members.get(course, []), MEMBERSHIPS, key="members",
                          extra={"id": str(request.url), "context": {"id": course, "title": "Biology 101"}})

    # -- notice handler service (Canvas: /api/lti/notice-handlers/<tool id>) --------------------------------
    def pns_claim(self, tool: str = "106") -> dict[str, Any]:
        return {"service_versions": ["1.0"], "scope": [SCOPE_NOTICES],
                "platform_notification_service_url": f"{self.base}/api/lti/notice-handlers/{tool}",
                "notice_types_supported": ["LtiHelloWorldNotice", "LtiAssetProcessorSubmissionNotice",
                                           "LtiContextCopyNotice"]}

    async def notice_handlers_endpoint(self, request: Request) -> Response:
        refused = self._authorized(request, [SCOPE_NOTICES])
        if refused is not None:
            return refused
        if request.method == "PUT":
            body = await request.json()
            notice_type, handler = body.get("notice_type"), body.get("handler")
            if not isinstance(notice_type, str) or not isinstance(handler, str):
                return JSONResponse({"errors": [{"message": "notice_type and handler are required"}]}, 400)
            if handler and not handler.startswith(self.tool_url + "/"):
                # Canvas: the handler's domain must match the tool's.
                return JSONResponse({"errors": [{"message": "handler must match the tool domain"}]}, 400)
            self.notice_handlers[notice_type] = handler
            if notice_type == "LtiHelloWorldNotice" and handler:
                await self._send_hello(handler)
            return JSONResponse({"notice_type": notice_type, "handler": handler})
        return JSONResponse({"client_id": self.peer.client_id, "deployment_id": self.peer.deployment_id,
                             "notice_handlers": [{"notice_type": kind, "handler": url}
                                                 for kind, url in sorted(self.notice_handlers.items())]})

    async def _send_hello(self, handler: str) -> None:
        """As Canvas does on subscription: a signed LtiHelloWorldNotice to the new handler."""
        import httpx

        from tests.lti.notices_peer import batch, notice_claims, sign_notice

        token = sign_notice(self.peer, notice_claims(self.peer, "LtiHelloWorldNotice"))
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(handler, json=batch(token))
        self.hello_deliveries.append(response.status_code)

    def app(self) -> Starlette:
        course = "{course:str}"
        routes = [
            Route("/api/lti/notice-handlers/{tool:str}", self.notice_handlers_endpoint, methods=["GET", "PUT"]),
            Route("/token", self.token, methods=["POST"]),
            Route(f"/api/lti/courses/{course}/line_items", self.line_items_endpoint, methods=["GET", "POST"]),
            Route(f"/api/lti/courses/{course}/line_items/{{item:int}}", self.line_item_endpoint),
            Route(f"/api/lti/courses/{course}/line_items/{{item:int}}/scores", self.scores_endpoint,
                  methods=["POST"]),
            Route(f"/api/lti/courses/{course}/line_items/{{item:int}}/results", self.results_endpoint),
            Route(f"/mod/lti/services.php/{course}/lineitems", self.line_items_endpoint, methods=["GET", "POST"]),
            Route(f"/mod/lti/services.php/{course}/lineitems/{{item:int}}/lineitem", self.line_item_endpoint),
            Route(f"/mod/lti/services.php/{course}/lineitems/{{item:int}}/lineitem/scores", self.scores_endpoint,
                  methods=["POST"]),
            Route(f"/mod/lti/services.php/{course}/lineitems/{{item:int}}/lineitem/results", self.results_endpoint),
            Route(f"/api/lti/courses/{course}/names_and_roles", self.members_endpoint),
        ]
        return Starlette(routes=routes)
