"""The LMS side of LTI 1.3, built on `lti1p3platform`: login initiation, the OIDC auth endpoint's checks,
Canvas-shaped id_tokens (with the AGS and NRPS claims), verification of the tool's deep-linking response, and
the service tokens (OAuth2 client_credentials with a JWT client assertion).

The library checks little, so, like the test peer (tests/lti/peer.py), the auth request, the response and the
client assertion are checked strictly here; a sandbox that accepted sloppy requests would teach newcomers
nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeGuard

import jwt
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract  # type: ignore[import-untyped]
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract  # type: ignore[import-untyped]
from lti1p3platform.oidc_login import OIDCLoginAbstract  # type: ignore[import-untyped]
from lti1p3platform.registration import Registration  # type: ignore[import-untyped]
from lti1p3platform.request import Request as PlatformRequest  # type: ignore[import-untyped]

from marketplace.keyed import Purpose, TokenExpired, TokenInvalid, read_claims, sign
from marketplace.sandbox import canvas
from marketplace.sandbox.keys import PlatformKey
from marketplace.sandbox.registration import CLIENT_ID, DEPLOYMENT_ID, PLATFORM_NAME, SandboxUrls

HINT_SECONDS = 600
ID_TOKEN_SECONDS = 3600  # Canvas's id_token lifetime
RESPONSE_MAX_AGE = 300  # Canvas: a response's (and a client assertion's) iat at most 5 minutes old ...
RESPONSE_MAX_AHEAD = 30  # ... and at most 30 seconds ahead
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DEEP_LINK, RESOURCE = "deep_link", "resource"
COURSE_ID = "sandbox-course"
COURSE_TITLE, COURSE_LABEL = "Sandbox course", "SANDBOX"


class _Registration(Registration):  # type: ignore[misc]
    """The library's registration, naming our key id (it cannot derive one, and the tool refuses a token without)."""

    def __init__(self, kid: str) -> None:
        self._kid = kid

    def get_kid(self) -> str:
        return self._kid


class _Conf(LTI1P3PlatformConfAbstract):  # type: ignore[misc]
    def init_platform_config(self, **kwargs: Any) -> None:
        self._registration = kwargs["registration"]
        # The library verifies the tool's signatures; aud and iat are checked here with Canvas's rules, which
        # let iat be up to 30 seconds ahead (PyJWT, as the library calls it, allows no clock skew at all).
        self._jwt_verify_options = {"verify_aud": False, "verify_iat": False}

    def get_registration_by_params(self, **kwargs: Any) -> Any:
        return self._registration


class _Login(OIDCLoginAbstract):  # type: ignore[misc]
    def set_lti_message_hint(self, **kwargs: Any) -> None:
        self._lti_message_hint = kwargs["hint"]

    def get_redirect(self, url: str) -> str:
        return url


class _AuthRequest(PlatformRequest):  # type: ignore[misc]
    def build_metadata(self, request: Any) -> dict[str, Any]:
        return {"method": "GET", "form_data": {}, "get_data": request, "headers": {}, "content_type": None,
                "path": "/sandbox/auth", "json": None}


class _Launch(LTIAdvantageMessageLaunchAbstract):  # type: ignore[misc]
    def render_launch_form(self, launch_data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return launch_data


@dataclass(frozen=True, slots=True)
class LaunchHint:
    """What a launch is for, carried signed in lti_message_hint from the start page to the auth endpoint."""

    kind: str  # DEEP_LINK or RESOURCE
    placement: str
    user: str  # a key of canvas.USERS
    item: str | None = None  # RESOURCE: "<delivery id>/<item index>"


@dataclass(frozen=True, slots=True)
class ResourceTarget:
    """The ltiResourceLink a resource launch opens, as the course stored it."""

    link_id: str
    title: str
    url: str
    custom: dict[str, str]
    width: int
    height: int
    lineitem: str | None = None  # the link's gradebook column, when its assignment has exactly one


@dataclass(frozen=True, slots=True)
class LaunchForm:
    """The auto-submitted form that carries the id_token to the tool."""

    action: str
    fields: dict[str, str]


class SandboxRejection(Exception):
    """The tool sent something a strict platform refuses; `problems` are sentences for the page."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class TokenRefusal(Exception):
    """A refused token request, as OAuth 2 says it: status, `error` code and `error_description`."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


class AccessRefused(Exception):
    """A service call whose bearer token is missing, invalid, expired or lacks the scope; Canvas answers 401."""


class SandboxPlatform:
    """The sandbox LMS as an LTI platform: its identity, key and the messages it exchanges with the tool."""

    def __init__(self, urls: SandboxUrls, key: PlatformKey, secret_key: str) -> None:
        self.urls = urls
        self.key = key
        self._secret_key = secret_key

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        return {"keys": [dict(self.key.public_jwk)]}

    def _registration(self, launch_url: str) -> _Registration:
        registration = _Registration(self.key.kid)
        registration.set_iss(self.urls.issuer)
        registration.set_client_id(CLIENT_ID)
        registration.set_deployment_id(DEPLOYMENT_ID)
        registration.set_oidc_login_url(self.urls.tool_login)
        registration.set_launch_url(launch_url)
        registration.set_platform_public_key(self.key.public_pem)
        registration.set_platform_private_key(self.key.private_pem)
        return registration

    # -- the message hint ------------------------------------------------------------------------------
    def sign_hint(self, hint: LaunchHint) -> str:
        body: dict[str, Any] = {"k": hint.kind, "p": hint.placement, "u": hint.user}
        if hint.item is not None:
            body["i"] = hint.item
        return sign(body, self._secret_key, Purpose.SANDBOX_MESSAGE_HINT, timedelta(seconds=HINT_SECONDS))

    def read_hint(self, value: str) -> LaunchHint | None:
        """The hint this sandbox signed in the last few minutes, or None."""
        try:
            body = read_claims(value, self._secret_key, Purpose.SANDBOX_MESSAGE_HINT)
        except (TokenExpired, TokenInvalid):
            return None
        kind, placement, user, item = body.get("k"), body.get("p"), body.get("u"), body.get("i")
        if kind not in {DEEP_LINK, RESOURCE} or placement not in canvas.PLACEMENTS or user not in canvas.USERS:
            return None
        if kind == RESOURCE and not isinstance(item, str):
            return None
        return LaunchHint(str(kind), str(placement), str(user), item if isinstance(item, str) else None)

    # -- login initiation --------------------------------------------------------------------------------
    def login_url(self, hint: LaunchHint, target_link_uri: str | None = None) -> str:
        """The tool's OIDC login initiation URL, as the library builds it."""
        conf = _Conf(registration=self._registration(target_link_uri or self.urls.tool_launch))
        login = _Login(None, conf)
        login.set_lti_message_hint(hint=self.sign_hint(hint))
        url: str = login.prepare_preflight_url(canvas.USERS[hint.user].sub)
        return url

    # -- the OIDC authorization endpoint ---------------------------------------------------------------
    def check_auth_request(self, params: dict[str, str]) -> LaunchHint:
        """The hint of a valid auth request; raises SandboxRejection listing every deviation from the spec."""
        hint = self.read_hint(params.get("lti_message_hint", ""))
        problems = [] if hint is not None else ["lti_message_hint is not one this sandbox issued in the last "
                                                f"{HINT_SECONDS // 60} minutes"]
        expected = {"scope": "openid", "response_type": "id_token", "response_mode": "form_post", "prompt": "none",
                    "client_id": CLIENT_ID, "redirect_uri": self.urls.tool_launch}
        if hint is not None:
            expected["login_hint"] = canvas.USERS[hint.user].sub
        problems += [f"{key} is {params.get(key)!r}, expected {value!r}" for key, value in expected.items()
                     if params.get(key) != value]
        problems += [f"{key} is missing" for key in ("nonce", "state") if not params.get(key)]
        if problems or hint is None:
            raise SandboxRejection(problems)
        return hint

    def launch_form(self, params: dict[str, str], hint: LaunchHint, target: ResourceTarget | None = None) -> LaunchForm:
        """The id_token for a checked auth request, built and signed by the library, in a form for the tool."""
        launch_url = target.url if target is not None else self.urls.tool_launch
        conf = _Conf(registration=self._registration(launch_url))
        launch = _Launch(_AuthRequest(dict(params)), conf)
        launch.set_id_token_expiration(ID_TOKEN_SECONDS)
        user = canvas.USERS[hint.user]
        launch.set_user_data(user.sub, list(user.roles), full_name=user.name, email_address=user.email)
        launch.set_launch_context_claim(COURSE_ID, context_types=[
            "http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"], context_title=COURSE_TITLE,
            context_label=COURSE_LABEL)
        width, height = canvas.FRAME_SIZE
        extra: dict[str, Any] = {
            "given_name": user.given_name,
            "family_name": user.family_name,
            "locale": "en",
            canvas.LTI + "tool_platform": {"guid": "lti-marketplace-sandbox", "name": PLATFORM_NAME,
                                           # Canvas's family code, so the tool takes the paths it takes for Canvas.
                                           "version": "sandbox", "product_family_code": "canvas"},
            canvas.LTI + "lti11_legacy_user_id": "",
        }
        if target is None:
            extra[canvas.LTI + "message_type"] = "LtiDeepLinkingRequest"
            extra[canvas.PLACEMENT_CLAIM] = hint.placement
            extra[canvas.DL_SETTINGS] = canvas.deep_linking_settings(
                hint.placement, self.urls.deep_link_return(hint.placement))
            launch.set_custom_parameters_claim({})
        else:
            extra[canvas.LTI + "message_type"] = "LtiResourceLinkRequest"
            launch.set_resource_link_claim(target.link_id, title=target.title)
            launch.set_custom_parameters_claim(dict(target.custom))
            width, height = target.width, target.height
        extra[canvas.LTI + "launch_presentation"] = {"document_target": "iframe", "return_url": self.urls.course,
                                                    "locale": "en", "width": width, "height": height}
        # Canvas sends both service claims in every course launch; `lineitem` only for a link whose assignment
        # has exactly one line item (a deep-linking request therefore has `lineitems` alone).
        launch.set_ags(self.urls.lineitems(COURSE_ID), target.lineitem if target is not None else None,
                       allow_creating_lineitems=True)
        launch.set_nrps(self.urls.memberships(COURSE_ID))
        # The library grants lineitem.readonly only to tools that may not create; Canvas sends every AGS scope
        # the developer key holds.
        extra[canvas.AGS_CLAIM] = {**launch.extra_claims[canvas.AGS_CLAIM], "scope": list(canvas.AGS_SCOPES)}
        launch.set_extra_claims(extra)
        data: dict[str, Any] = launch.lti_launch()
        return LaunchForm(str(data["launch_url"]), {"id_token": str(data["id_token"]), "state": str(data["state"])})

    # -- the deep-linking return -------------------------------------------------------------------------
    def verify_response(self, token: str, placement: str, tool_jwks: dict[str, Any]) -> dict[str, Any]:
        """The verified LtiDeepLinkingResponse body; raises SandboxRejection with every problem found."""
        registration = self._registration(self.urls.tool_launch)
        registration.set_tool_key_set(tool_jwks)
        conf = _Conf(registration=registration)
        conf.set_accepted_deeplinking_types(canvas.deep_linking_settings(placement, "")["accept_types"])
        try:
            conf.validate_deeplinking_resp({"JWT": token})
        except Exception as error:  # the library raises several unrelated types; each one is a refusal
            raise SandboxRejection([f"lti1p3platform refused the response: {error or type(error).__name__}"]) from None
        header = jwt.get_unverified_header(token)
        body: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
        problems = self._response_problems(header, body, placement)
        if problems:
            raise SandboxRejection(problems)
        return body

    def _response_problems(self, header: dict[str, Any], body: dict[str, Any], placement: str) -> list[str]:
        problems: list[str] = []
        now = time.time()
        if header.get("alg") != "RS256" or not header.get("kid"):
            problems.append(f"the header must name RS256 and a kid, not {header}")
        if body.get("iss") != CLIENT_ID:
            problems.append(f"iss is {body.get('iss')!r}, expected the client_id {CLIENT_ID!r}")
        audience = body.get("aud")
        if self.urls.issuer not in (audience if isinstance(audience, list) else [audience]):
            problems.append(f"aud is {audience!r}, expected {self.urls.issuer!r}")
        if not body.get("nonce"):
            problems.append("nonce is missing")
        iat = body.get("iat")
        if not isinstance(iat, int | float) or not now - RESPONSE_MAX_AGE <= iat <= now + RESPONSE_MAX_AHEAD:
            problems.append(f"iat {iat!r} is not within the last {RESPONSE_MAX_AGE // 60} minutes")
        if not isinstance(body.get("exp"), int | float) or body["exp"] <= now:
            problems.append(f"exp {body.get('exp')!r} is missing or past")
        if body.get(canvas.LTI + "deployment_id") != DEPLOYMENT_ID:
            problems.append(f"deployment_id is {body.get(canvas.LTI + 'deployment_id')!r}, expected {DEPLOYMENT_ID!r}")
        if body.get(canvas.LTI + "version") != "1.3.0":
            problems.append("version is not 1.3.0")
        if body.get(canvas.LTI + "message_type") != "LtiDeepLinkingResponse":
            problems.append("message_type is not LtiDeepLinkingResponse")
        if canvas.DL + "data" in body:
            problems.append("data is echoed although the request sent none")
        items = body.get(canvas.CONTENT_ITEMS, [])
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            problems.append("content_items is not a list of objects")
        elif len(items) > 1 and not canvas.deep_linking_settings(placement, "")["accept_multiple"]:
            problems.append(f"{len(items)} items came back where the request accepted one")
        return problems

    # -- service tokens ------------------------------------------------------------------------------------
    def issue_token(self, form: dict[str, str], tool_jwks: dict[str, Any],
                    use_jti: Callable[[str, float], bool]) -> dict[str, Any]:
        """The access token answer for a client_credentials request; raises TokenRefusal.

        lti1p3platform checks the form and the assertion's signature against the tool's keys; the claims are
        checked here as Canvas checks them, and `use_jti(jti, forget_at)` refuses an assertion seen before.
        """
        self._check_token_form(form)
        registration = self._registration(self.urls.tool_launch)
        registration.set_tool_key_set(tool_jwks)
        conf = _Conf(registration=registration)
        try:
            answer: dict[str, Any] = conf.get_access_token(dict(form))
        except Exception as error:  # the library raises jwt's and its own exception types; each one is a refusal
            raise TokenRefusal(401, "invalid_client", "The client assertion could not be verified: "
                                                      f"{error or type(error).__name__}") from None
        body: dict[str, Any] = jwt.decode(form["client_assertion"], options={"verify_signature": False})
        now = time.time()
        problems = self._assertion_problems(body, now)
        # Remembered until the assertion would be refused anyway: its exp passed or its iat became too old.
        if not problems and not use_jti(str(body["jti"]), min(body["exp"], body["iat"] + RESPONSE_MAX_AGE)):
            problems.append(f"jti {body['jti']!r} was already used; each assertion is good for one token request")
        if problems:
            raise TokenRefusal(401, "invalid_client", "; ".join(problems))
        return answer

    def _check_token_form(self, form: dict[str, str]) -> None:
        if form.get("grant_type") != "client_credentials":
            raise TokenRefusal(400, "unsupported_grant_type",
                               f"grant_type is {form.get('grant_type')!r}; the sandbox takes client_credentials only")
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise TokenRefusal(400, "invalid_request", "assertion method not supported for this grant_type "
                                                       f"(client_assertion_type must be {ASSERTION_TYPE})")
        if not form.get("client_assertion"):
            raise TokenRefusal(400, "invalid_request", "client_assertion is missing")
        requested = form.get("scope", "").split()
        if not requested:
            raise TokenRefusal(400, "invalid_scope", "scope is missing: name the services the token is for")
        unknown = [scope for scope in requested if scope not in canvas.KEY_SCOPES]
        if unknown:
            raise TokenRefusal(400, "invalid_scope", "The sandbox's developer key does not hold "
                                                     f"{', '.join(unknown)}")

    def _assertion_problems(self, body: dict[str, Any], now: float) -> list[str]:
        """What is wrong with a signed client assertion's claims (Canvas requires each of them)."""
        problems = [f"{name} is {body.get(name)!r}, expected the client_id {CLIENT_ID!r}" for name in ("iss", "sub")
                    if body.get(name) != CLIENT_ID]
        audience = body.get("aud")
        # Canvas compares aud with its token URL exactly: a trailing slash or another host fails.
        if self.urls.token not in (audience if isinstance(audience, list) else [audience]):
            problems.append(f"aud is {audience!r}, expected exactly {self.urls.token!r}")
        iat = body.get("iat")
        if not _is_number(iat) or not now - RESPONSE_MAX_AGE <= iat <= now + RESPONSE_MAX_AHEAD:
            problems.append(f"iat {iat!r} is not within the last {RESPONSE_MAX_AGE // 60} minutes "
                            f"(nor more than {RESPONSE_MAX_AHEAD} seconds ahead)")
        if not _is_number(body.get("exp")) or body["exp"] <= now:
            problems.append(f"exp {body.get('exp')!r} is missing or past")
        if not isinstance(body.get("jti"), str) or not body["jti"]:
            problems.append("jti is missing")
        return problems

    def check_access_token(self, authorization: str | None, scopes: tuple[str, ...]) -> None:
        """Raise AccessRefused unless the Authorization header carries a token of ours holding one of `scopes`."""
        kind, _, token = (authorization or "").partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            raise AccessRefused("Missing access token")
        conf = _Conf(registration=self._registration(self.urls.tool_launch))
        try:
            allowed = conf.validate_token(token.strip(), allowed_scopes=list(scopes))
        except jwt.ExpiredSignatureError:
            raise AccessRefused("Access token expired") from None
        except Exception as error:  # jwt's errors and the library's LtiException
            raise AccessRefused(f"Invalid access token: {error or type(error).__name__}") from None
        if not allowed:
            raise AccessRefused("Insufficient permissions")


def _is_number(value: Any) -> TypeGuard[float]:
    """A JSON number (booleans are not)."""
    return isinstance(value, int | float) and not isinstance(value, bool)
