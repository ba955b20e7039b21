"""The platform's deep-linking return endpoint, on loopback, verifying a tool's response strictly.

`lti1p3platform` checks the signature (our JWKS, by kid), the message type and the item types; the rest
is checked here: iss, aud, nonce, iat freshness (Canvas: at most 5 minutes old, 30 s ahead), exp,
deployment_id, version, data echo, and each content item against the spec and the placement.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.registration import Registration
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.lti.canvas_rules import PRESERVE_NAME, RULES, editor_insert

DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"


class _ReceiverConf(LTI1P3PlatformConfAbstract):
    def init_platform_config(self, **kwargs: Any) -> None:
        self._registration = kwargs["registration"]

    def get_registration_by_params(self, **kwargs: Any) -> Registration:
        return self._registration


@dataclass
class Expectation:
    """What the platform asked for in the deep-linking request this response answers."""

    placement: str
    accept_types: list[str]
    accept_multiple: bool
    deployment_id: str
    data: Any = None
    has_data: bool = False


@dataclass
class DeepLinkReceiver:
    issuer: str
    client_id: str
    tool_jwks_url: str
    expectation: Expectation | None = None
    return_url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def verify(self, token: str) -> list[str]:
        registration = Registration()
        registration.set_iss(self.issuer)
        registration.set_client_id(self.client_id)
        registration.set_tool_key_set_url(self.tool_jwks_url)
        conf = _ReceiverConf(registration=registration)
        expected = self.expectation
        assert expected is not None
        conf.set_accepted_deeplinking_types(expected.accept_types)
        problems: list[str] = []
        try:
            items = conf.validate_deeplinking_resp({"JWT": token})
        except Exception as error:  # noqa: BLE001 - every library refusal is a finding
            return [f"lti1p3platform refused it: {error!r}"]
        header = jwt.get_unverified_header(token)
        body = jwt.decode(token, options={"verify_signature": False})
        now = time.time()
        if header.get("alg") != "RS256" or not header.get("kid"):
            problems.append(f"header {header}")
        if body.get("iss") != self.client_id:
            problems.append(f"iss {body.get('iss')!r}")
        audience = body.get("aud")
        if self.issuer not in (audience if isinstance(audience, list) else [audience]):
            problems.append(f"aud {audience!r}")
        if not body.get("nonce"):
            problems.append("no nonce")
        if not isinstance(body.get("iat"), int) or not now - 300 <= body["iat"] <= now + 30:
            problems.append(f"iat {body.get('iat')!r} not fresh")
        if not isinstance(body.get("exp"), int) or body["exp"] <= now:
            problems.append(f"exp {body.get('exp')!r}")
        if body.get("https://purl.imsglobal.org/spec/lti/claim/deployment_id") != expected.deployment_id:
            problems.append("deployment_id")
        if body.get("https://purl.imsglobal.org/spec/lti/claim/version") != "1.3.0":
            problems.append("version")
        if expected.has_data != (DL + "data" in body) or body.get(DL + "data") != expected.data:
            problems.append(f"data echo {body.get(DL + 'data')!r}")
        if not expected.accept_multiple and len(items) > 1:
            problems.append("several items where one is accepted")
        for item in items:
            problems += [f"{item.get('type')}: {problem}" for problem in self._check_item(item, expected.placement)]
        self.received.append(body)
        return problems

    @staticmethod
    def _check_item(item: dict[str, Any], placement: str) -> list[str]:
        problems = []
        kind = item.get("type")
        needs = {"link": ["url"], "ltiResourceLink": [], "file": ["url"], "html": ["html"], "image": ["url"]}
        for key in needs.get(str(kind), []):
            if not item.get(key):
                problems.append(f"missing {key}")
        for key in ("url",):
            if key in item and not str(item[key]).startswith(("http://", "https://")):
                problems.append(f"{key} not absolute")
        if kind == "ltiResourceLink":
            custom = item.get("custom")
            if not isinstance(custom, dict) or not custom or not all(isinstance(v, str) for v in custom.values()):
                problems.append(f"custom must be a non-empty flat map of strings, got {custom!r}")
            line_item = item.get("lineItem")
            if line_item is not None and not (isinstance(line_item.get("scoreMaximum"), int | float)
                                              and line_item["scoreMaximum"] > 0):
                problems.append(f"lineItem {line_item!r}")
        if placement == "editor_button" and kind == "file":
            problems.append("Canvas's editor drops file items")
        if placement in {"link_selection", "assignment_selection"} and kind != "ltiResourceLink":
            problems.append("only ltiResourceLink counts here")
        if placement == "assignment_selection" and "lineItem" not in item:
            problems.append("an assignment needs a lineItem")
        if kind == "image" and not item.get("text"):
            problems.append("image without alt text")
        problems += DeepLinkReceiver._check_canvas_display(item, placement)
        return problems

    @staticmethod
    def _check_canvas_display(item: dict[str, Any], placement: str) -> list[str]:
        """What a real Canvas would show wrongly (tests/fixtures/canvas-content-items.json)."""
        problems = []
        kind, frame = item.get("type"), item.get("iframe")
        if placement == "editor_button" and kind in {"link", "ltiResourceLink"} and not frame:
            body = editor_insert(item).body
            if body != item.get("title"):
                problems.append(f"the editor's link would read {body[:60]!r}, not its title")
        if placement == "editor_button" and kind == "link" and isinstance(frame, dict) and not frame.get("src"):
            problems.append("a link meant as a frame without iframe.src becomes a plain anchor in Canvas")
        limit = RULES["editor_button"]["sensible_max_width_px"]
        for width in (item.get("width") if kind == "image" else None,
                      frame.get("width") if isinstance(frame, dict) else None):
            if isinstance(width, int) and width > limit:
                problems.append(f"{width} px wide, more than {limit}")
        if placement == "assignment_selection" and item.get(PRESERVE_NAME) is not True:
            problems.append("without preserveExistingAssignmentName Canvas renames the teacher's assignment")
        return problems

    async def receive(self, request: Request) -> Response:
        form = await request.form()
        problems = self.verify(str(form.get("JWT", "")))
        self.problems.extend(problems)
        if problems:
            return JSONResponse({"errors": problems}, status_code=400)
        return JSONResponse({"content_items": self.received[-1][DL + "content_items"]})

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/return", self.receive, methods=["POST"])])
