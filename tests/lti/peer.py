"""A loopback LMS built on the `lti1p3platform` library: OIDC auth endpoint, JWKS and signed id_tokens.

The library checks little, so this peer checks the tool's auth request strictly itself (scope, response
type and mode, prompt, client_id, redirect_uri, login_hint and message hint echo, nonce and state), and
lets each test bend the id_token it issues (claims, header, signing key, algorithm) to play every invalid
launch of the 1EdTech certification.
"""

from __future__ import annotations

import copy
import html
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.message_launch import MessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration
from lti1p3platform.request import Request as PlatformRequest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route

CLIENT_ID = "marketplace-client"
DEPLOYMENT_ID = "dep-1"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
DL_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
FORWARDING_FRAME = "post_message_forwarding"


@dataclass
class RsaKey:
    kid: str
    private_pem: str
    public_jwk: dict[str, Any]

    @classmethod
    def generate(cls) -> RsaKey:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
        kid = uuid.uuid4().hex
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
        jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
        return cls(kid, pem, jwk)

    def public_pem(self) -> str:
        key = serialization.load_pem_private_key(self.private_pem.encode(), password=None)
        return key.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@dataclass
class Scenario:
    """How the next id_token deviates from a valid one."""

    claims: dict[str, Any] = field(default_factory=dict)  # value None deletes the claim
    header: dict[str, Any] = field(default_factory=dict)  # value None deletes the header field
    signer: str = "platform"  # platform | foreign | hs256-public | none | raw
    raw_token: str | None = None
    mutate: Callable[[dict[str, Any]], None] | None = None
    tamper: bool = False  # change the payload after signing


class _PeerRequest(PlatformRequest):
    def build_metadata(self, request: Any) -> Any:
        return {"method": "GET", "form_data": {}, "get_data": request, "headers": {}, "content_type": None,
                "path": "/auth", "json": None}


class _PeerConf(LTI1P3PlatformConfAbstract):
    def init_platform_config(self, **kwargs: Any) -> None:
        self._registration = kwargs["registration"]

    def get_registration_by_params(self, **kwargs: Any) -> Registration:
        return self._registration


class _PeerLogin(OIDCLoginAbstract):
    def set_lti_message_hint(self, **kwargs: Any) -> None:
        self._lti_message_hint = kwargs["hint"]

    def get_redirect(self, url: str) -> Any:
        return url


class _PeerLaunch(MessageLaunchAbstract):
    def render_launch_form(self, launch_data: dict[str, Any], **kwargs: Any) -> Any:
        return launch_data


class PlatformPeer:
    """The LMS side of a launch; tests set `message`, `scenario` and the user before each launch."""

    def __init__(self, issuer: str, tool_base_url: str, *, client_id: str = CLIENT_ID,
                 deployment_id: str = DEPLOYMENT_ID) -> None:
        self.issuer = issuer
        self.tool_base_url = tool_base_url
        self.client_id = client_id
        self.deployment_id = deployment_id
        self.keys = [RsaKey.generate()]
        self.signing_key = self.keys[0]
        self.scenario = Scenario()
        self.user_id = "user-1"
        self.context_id = "course-1"
        self.resource_link_id = "link-1"
        # The platform's services (token endpoint, AGS, NRPS) when a test plays them (tests/grading/).
        self.services: Any = None
        self.roles: list[str] = [INSTRUCTOR]
        self.message_type = "LtiResourceLinkRequest"
        self.extra_claims: dict[str, Any] = {}
        self.storage_target: str | None = None
        self.auth_requests: list[dict[str, str]] = []
        self.auth_failures: list[str] = []
        self.jwks_fetches = 0
        self.jwks_down = False  # the key set endpoint answers 503 (a platform outage)
        self.last_id_token: str | None = None
        self.last_claims: dict[str, Any] = {}
        self.lti_message_hint = "hint-" + uuid.uuid4().hex
        # Platform storage in the browser (the course page): every put/get it answered, and a switch that
        # makes it answer get_data with a wrong value.
        self.storage_log: list[dict[str, Any]] = []
        self.storage_answers_wrong = False

    # -- the library's registration ---------------------------------------------------------------------
    def registration(self) -> Registration:
        registration = Registration()
        registration.set_iss(self.issuer)
        registration.set_client_id(self.client_id)
        registration.set_deployment_id(self.deployment_id)
        registration.set_oidc_login_url(self.tool_base_url + "/lti/login")
        registration.set_launch_url(self.tool_base_url + "/lti/launch")
        registration.set_platform_public_key(self.signing_key.public_pem())
        registration.set_platform_private_key(self.signing_key.private_pem)
        return registration

    def login_url(self, **extra: str) -> str:
        """The tool's login initiation URL, as the library builds it (plus any extra parameters)."""
        conf = _PeerConf(registration=self.registration())
        login = _PeerLogin(None, conf)
        login.set_lti_message_hint(hint=self.lti_message_hint)
        url: str = login.prepare_preflight_url(self.user_id)
        if self.storage_target:
            extra = {"lti_storage_target": self.storage_target, **extra}
        for key, value in extra.items():
            url += f"&{key}={value}"
        return url

    def rotate_key(self) -> RsaKey:
        """A new signing key, published alongside the old one (as platforms do)."""
        key = RsaKey.generate()
        self.keys.append(key)
        self.signing_key = key
        return key

    # -- endpoints ----------------------------------------------------------------------------------------
    async def jwks(self, request: Request) -> Response:
        self.jwks_fetches += 1
        if self.jwks_down:
            return PlainTextResponse("Service Unavailable", status_code=503)
        return JSONResponse({"keys": [key.public_jwk for key in self.keys]})

    def _check_auth_request(self, params: dict[str, str]) -> list[str]:
        expected = {"scope": "openid", "response_type": "id_token", "response_mode": "form_post",
                    "prompt": "none", "client_id": self.client_id,
                    "redirect_uri": self.tool_base_url + "/lti/launch", "login_hint": self.user_id,
                    "lti_message_hint": self.lti_message_hint}
        problems = [f"{key}={params.get(key)!r}, expected {value!r}" for key, value in expected.items()
                    if params.get(key) != value]
        problems += [f"{key} missing" for key in ("nonce", "state") if not params.get(key)]
        return problems

    async def auth(self, request: Request) -> Response:
        params = {key: value for key, value in request.query_params.items()}
        self.auth_requests.append(params)
        problems = self._check_auth_request(params)
        if problems:
            self.auth_failures.extend(problems)
            return PlainTextResponse("invalid auth request: " + "; ".join(problems), status_code=400)
        token = self.issue_id_token(params["nonce"])
        fields = {"id_token": token, "state": params["state"]}
        if self.storage_target:
            fields["lti_storage_target"] = self.storage_target
        inputs = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                         for k, v in fields.items())
        action = html.escape(params["redirect_uri"])
        page = (f'<!doctype html><html><body><form id="launch" method="post" action="{action}">{inputs}'
                '<button type="submit">Launch</button></form>'
                '<script>document.getElementById("launch").submit()</script></body></html>')
        return HTMLResponse(page)

    def issue_id_token(self, nonce: str) -> str:
        """A launch built by the library, then bent by the scenario and signed."""
        conf = _PeerConf(registration=self.registration())
        launch = _PeerLaunch(_PeerRequest({"nonce": nonce, "state": "s", "redirect_uri": "r",
                                           "client_id": self.client_id}), conf)
        launch._registration = conf.get_registration()
        launch.set_user_data(self.user_id, self.roles, full_name="Ada Teacher", email_address="ada@example.edu")
        if self.message_type == "LtiResourceLinkRequest":
            launch.set_resource_link_claim(self.resource_link_id, title="Photosynthesis")
        launch.set_launch_context_claim(self.context_id, context_title="Biology 101", context_label="BIO101")
        claims: dict[str, Any] = launch.get_launch_message()
        claims["https://purl.imsglobal.org/spec/lti/claim/message_type"] = self.message_type
        claims["nonce"] = nonce
        now = int(time.time())
        claims.update({"iat": now, "exp": now + 300, "given_name": "Ada", "family_name": "Teacher"})
        claims.update(copy.deepcopy(self.extra_claims))
        scenario = self.scenario
        for key, value in scenario.claims.items():
            if value is None:
                claims.pop(key, None)
            else:
                claims[key] = value
        if scenario.mutate:
            scenario.mutate(claims)
        header: dict[str, Any] = {"kid": self.signing_key.kid}
        for key, value in scenario.header.items():
            if value is None:
                header.pop(key, None)
            else:
                header[key] = value
        self.last_claims = claims
        token = self._sign(claims, header)
        if scenario.tamper:
            head, body, signature = token.split(".")
            tampered = dict(claims, sub="someone-else")
            body = jwt.utils.base64url_encode(json.dumps(tampered).encode()).decode()
            token = ".".join((head, body, signature))
        self.last_id_token = token
        return token

    def _sign(self, claims: dict[str, Any], header: dict[str, Any]) -> str:
        signer = self.scenario.signer
        if signer == "raw":
            return self.scenario.raw_token or ""
        if signer == "none":
            return jwt.encode(claims, None, algorithm="none", headers=header)
        if signer == "hs256-public":
            # The classic confusion attack: HMAC keyed with the platform's public key.
            secret = self.signing_key.public_pem().encode()
            head = jwt.utils.base64url_encode(json.dumps({"alg": "HS256", "typ": "JWT", **header}).encode())
            body = jwt.utils.base64url_encode(json.dumps(claims).encode())
            import hashlib
            import hmac

            signature = hmac.new(secret, head + b"." + body, hashlib.sha256).digest()
            return b".".join((head, body, jwt.utils.base64url_encode(signature))).decode()
        key = RsaKey.generate() if signer == "foreign" else self.signing_key
        return jwt.encode(claims, key.private_pem, algorithm="RS256", headers=header)

    # -- a course page that embeds the tool, with Canvas-style platform storage ----------------------------
    async def course(self, request: Request) -> Response:
        """GET /course: the tool in an iframe, beside a hidden `post_message_forwarding` frame on the issuer origin.

        Like Canvas, the forwarding frame (on the auth/issuer origin the tool targets) only relays messages; this
        page, first-party to the browser, keeps the data in its localStorage. A third-party frame could not: with
        third-party cookies blocked, Chromium denies it localStorage too.
        """
        page_origin = f"{request.url.scheme}://{request.url.netloc}"
        forwarding = self.issuer + "/forwarding?" + urlencode({"parent_origin": page_origin})
        config = _script_json({"forwarder_origin": self.issuer, "answer_wrong": self.storage_answers_wrong})
        page = f"""<!doctype html><html><head><title>Biology 101</title></head><body>
<h1>Biology 101</h1>
<iframe id="{FORWARDING_FRAME}" name="{FORWARDING_FRAME}" src="{html.escape(forwarding)}" hidden></iframe>
<iframe id="tool" name="tool" src="{html.escape(self.login_url())}" width="900" height="600"
        title="LTI Marketplace"></iframe>
<script>
(function () {{
  "use strict";
  var config = {config};
  var forwarder = document.getElementById("{FORWARDING_FRAME}");
  var prefix = "lti|platform_storage|";
  window.addEventListener("message", function (event) {{
    var message = event.data;
    if (event.origin !== config.forwarder_origin || event.source !== forwarder.contentWindow) {{ return; }}
    if (!message || typeof message !== "object" || !message.sourceToolInfo) {{ return; }}
    var subject = String(message.subject || "");
    var kind = subject.replace(/^org\\.imsglobal\\./, "");
    if (kind !== "lti.put_data" && kind !== "lti.get_data") {{ return; }}
    var name = prefix + message.sourceToolInfo.origin + "|" + message.key;
    var value;
    if (kind === "lti.put_data") {{
      value = message.value === undefined ? null : message.value;
      if (value === null) {{ localStorage.removeItem(name); }} else {{ localStorage.setItem(name, String(value)); }}
    }} else {{
      value = localStorage.getItem(name);
      if (config.answer_wrong && value !== null) {{ value = "wrong-" + value; }}
    }}
    var entry = {{subject: subject, key: message.key, value: value, tool_origin: message.sourceToolInfo.origin}};
    var reply = {{subject: subject + ".response", message_id: message.message_id, key: message.key, value: value,
                 sourceToolInfo: message.sourceToolInfo}};
    var source = event.source;
    fetch("/storage-log", {{method: "POST", headers: {{"Content-Type": "application/json"}},
                           body: JSON.stringify(entry)}})
      .finally(function () {{ source.postMessage(reply, config.forwarder_origin); }});
  }});
}}());
</script>
</body></html>"""
        return HTMLResponse(page)

    async def forwarding(self, request: Request) -> Response:
        """GET /forwarding: relays storage messages from tool frames to the course page and the replies back."""
        parent_origin = request.query_params.get("parent_origin", "")
        if not parent_origin.startswith(("http://", "https://")):
            return PlainTextResponse("parent_origin missing", status_code=400)
        config = _script_json({"parent_origin": parent_origin})
        page = f"""<!doctype html><html><body><script>
(function () {{
  "use strict";
  var config = {config};
  var tools = [];
  window.addEventListener("message", function (event) {{
    var message = event.data;
    if (!message || typeof message !== "object") {{ return; }}
    if (event.source === window.parent && event.origin === config.parent_origin) {{
      var info = message.sourceToolInfo;
      var target = info ? tools[info.windowId] : null;
      if (!target) {{ return; }}
      var reply = Object.assign({{}}, message);
      delete reply.sourceToolInfo;
      target.postMessage(reply, info.origin);
      return;
    }}
    var windowId = tools.indexOf(event.source);
    if (windowId === -1) {{ tools.push(event.source); windowId = tools.length - 1; }}
    var forwarded = Object.assign({{}}, message, {{sourceToolInfo: {{origin: event.origin, windowId: windowId}}}});
    window.parent.postMessage(forwarded, config.parent_origin);
  }});
}}());
</script></body></html>"""
        return HTMLResponse(page)

    async def record_storage(self, request: Request) -> Response:
        """POST /storage-log: the course page reports each put/get it answers (before answering)."""
        self.storage_log.append(await request.json())
        return Response(status_code=204)

    async def _services(self, scope: Any, receive: Any, send: Any) -> None:
        if self.services is None:
            await PlainTextResponse("no services here", status_code=404)(scope, receive, send)
        else:
            await self.services(scope, receive, send)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/jwks", self.jwks), Route("/auth", self.auth), Route("/course", self.course),
                                 Route("/forwarding", self.forwarding),
                                 Route("/storage-log", self.record_storage, methods=["POST"]),
                                 Mount("", app=self._services)])


def _script_json(value: Any) -> str:
    """JSON safe to put inside an inline <script>."""
    return json.dumps(value).replace("<", "\\u003c")


def form_fields(page: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of an auto-submit form page."""
    import re

    action = re.search(r'<form[^>]*action="([^"]+)"', page)
    assert action, page[:500]
    fields = {html.unescape(name): html.unescape(value)
              for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)}
    return html.unescape(action.group(1)), fields


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def register_peer(sessions: Any, peer: PlatformPeer) -> None:
    """Register the loopback platform and its deployment with the tool's database, as an administrator would."""
    from marketplace.store.registrations import add_deployment, add_platform

    with sessions() as session:
        platform = add_platform(session, issuer=peer.issuer, client_id=peer.client_id, name="Loopback LMS",
                                auth_login_url=peer.issuer + "/auth", auth_token_url=peer.issuer + "/token",
                                key_set_url=peer.issuer + "/jwks", allow_http=True)
        add_deployment(session, platform, peer.deployment_id)
        session.commit()
