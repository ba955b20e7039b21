"""Launch validation: PyLTI1p3's checks plus the ones it leaves out, into a stored LaunchContext.

On top of PyLTI1p3 (JWT format, registration lookup, message validators): RS256 only with the platform's
key by `kid` (refetched once on an unknown kid), `aud` must contain our client_id and `azp` must equal it
when there are several audiences, `exp`/`iat` with a 60 s leeway, the nonce must be the one issued for
this state and is used once, deployments are checked against the database (unknown ones are recorded as
pending for an administrator), and the claims each message type needs must be present.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

import jwt
from pylti1p3.exception import LtiException
from pylti1p3.message_launch import MessageLaunch
from pylti1p3.request import Request
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from marketplace.clock import aware, utc_now
from marketplace.lti import claims
from marketplace.lti.context import LaunchContext
from marketplace.lti.course_copies import remember_link, resolve_copied_link
from marketplace.lti.errors import LtiRefusal, refused
from marketplace.lti.platform_keys import PlatformKeyError, PlatformKeySets
from marketplace.lti.tool_config import DatabaseToolConf
from marketplace.store.models import DeploymentRow, LaunchRow, LoginStateRow, PlatformRow, table_of
from marketplace.store.registrations import ACTIVE, PENDING, find_deployment, platforms_of_issuer
from marketplace.store.upsert import insert_or_ignore

LEEWAY_SECONDS = 60
MAX_ID_TOKEN_BYTES = 256 * 1024
LAUNCH_LIFETIME = timedelta(hours=8)


class FormRequest(Request):
    """The launch form as PyLTI1p3's request interface (no framework needed: it is already parsed)."""

    def __init__(self, params: dict[str, str], secure: bool) -> None:
        self._params = params
        self._secure = secure

    def is_secure(self) -> bool:
        return self._secure

    def get_param(self, key: str) -> str:
        return self._params.get(key, "")


@dataclass(frozen=True, slots=True)
class VerifiedLaunch:
    """A launch that passed every check; `confirmed` says whether the browser binding is already proven."""

    context: LaunchContext
    state: str
    confirmed: bool
    auth_login_url: str


def _segment(token: str, index: int) -> dict[str, Any]:
    try:
        part = token.split(".")[index]
        decoded = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError, UnicodeDecodeError):
        raise refused("not_jwt", "The launch token is not a valid JWT.") from None
    if not isinstance(decoded, dict):
        raise refused("not_jwt", "The launch token is not a valid JWT.")
    return decoded


_LOGIN_STATES = table_of(LoginStateRow)
# Built once, on the table: every launch runs it (no ORM bulk-update planning per call). Its parameters are
# not named as columns: SQLAlchemy keeps those names for an update's SET clause.
# The login a launch names, read alone (a mapped LoginStateRow loaded through Session.get cost more than the
# read), and the launch row written as a Core insert (an ORM add and flush ran the unit of work for one row).
_LOGIN_OF_STATE = select(_LOGIN_STATES.c.platform_id, _LOGIN_STATES.c.nonce, _LOGIN_STATES.c.consumed_at,
                         _LOGIN_STATES.c.expires_at).where(_LOGIN_STATES.c.state == bindparam("given_state"))
_INSERT_LAUNCH = insert(table_of(LaunchRow))
_USE_LOGIN = (update(_LOGIN_STATES)
              .where(_LOGIN_STATES.c.state == bindparam("given_state"),
                     _LOGIN_STATES.c.platform_id == bindparam("of_platform"),
                     _LOGIN_STATES.c.nonce == bindparam("given_nonce"), _LOGIN_STATES.c.consumed_at.is_(None))
              .values(consumed_at=bindparam("now")))


class StrictMessageLaunch(MessageLaunch[FormRequest, DatabaseToolConf, Any, Any]):
    """PyLTI1p3's MessageLaunch with its gaps closed; `validate()` raises LtiRefusal with a plain sentence."""

    def __init__(self, request: FormRequest, session: Session, key_sets: PlatformKeySets) -> None:
        # PyLTI1p3 requires session and cookie services; state and nonce live in our database instead.
        self._tool_conf = DatabaseToolConf(session)
        super().__init__(request, self._tool_conf, session_service=object(), cookie_service=object())
        self._request_params = request
        self._session = session
        self._key_sets = key_sets
        self._platform: PlatformRow | None = None
        self._deployment: DeploymentRow | None = None  # found by validate_deployment, used again by store
        self._client_id: str | None = None
        self._launch_id = str(uuid.uuid4())
        self._header: dict[str, Any] = {}
        self._body: dict[str, Any] = {}
        self._row: dict[str, Any] | None = None  # the launch row's values: made by prepare, written by record
        self._remember = False

    @property
    def platform(self) -> PlatformRow:
        """The registration this launch came from (in the launch's session), once validated."""
        assert self._platform is not None  # noqa: S101 - validate_registration ran first
        return self._platform

    def _get_request_param(self, key: str) -> str:
        value: str = self._request_params.get_param(key)
        return value

    # -- the pipeline --------------------------------------------------------------------------------
    def validate(self) -> StrictMessageLaunch:
        self._validated = True
        token = self._get_request_param("id_token")
        if not token:
            raise refused("missing_id_token", "The course did not send a launch token (id_token).")
        if len(token) > MAX_ID_TOKEN_BYTES:
            raise LtiRefusal("too_large", "The launch token is too large to be an LTI launch.", 413)
        if token.count(".") != 2:
            raise refused("not_jwt", "The launch token is not a valid JWT.")
        self._header = _segment(token, 0)
        self._body = _segment(token, 1)
        self._jwt = cast(Any, {"header": self._header, "body": self._body})
        self._check_header()
        self.validate_registration()
        self.validate_jwt_signature()
        self.validate_message()
        self.validate_nonce()
        self.validate_deployment()
        return self

    def _check_header(self) -> None:
        header = self._header
        if header.get("alg") != "RS256":
            raise refused("bad_alg", f"The launch token is signed with {header.get('alg')!r}; LTI 1.3 requires RS256.")
        if not header.get("kid"):
            raise refused("no_kid", "The launch token does not name the key that signed it (no kid).")

    def get_client_id(self) -> str:
        if self._client_id is None:
            raise refused("wrong_aud", "The launch token is not addressed to this tool.")
        return self._client_id

    def validate_registration(self) -> StrictMessageLaunch:
        body = self._body
        issuer = body.get("iss")
        if not isinstance(issuer, str) or not issuer:
            raise refused("missing_iss", "The launch token does not say which platform sent it (no iss).")
        audiences = body.get("aud")
        audience_list = [audiences] if isinstance(audiences, str) else audiences if isinstance(audiences, list) else []
        registered = platforms_of_issuer(self._session, issuer)
        if not registered:
            raise refused("unknown_iss", f"The platform {issuer} is not registered with this tool.",
                          advice="An administrator must register it first (marketplace platform add).")
        matching = [platform for platform in registered if platform.client_id in audience_list]
        if not matching:
            raise refused("wrong_aud", "The launch token was issued for another tool: its audience (aud) does not "
                          "contain this tool's client_id.")
        platform = matching[0]
        if len(audience_list) > 1 and body.get("azp") != platform.client_id:
            raise refused("bad_azp", "The launch token has several audiences but its authorized party (azp) is not "
                          "this tool's client_id.")
        if "azp" in body and body.get("azp") != platform.client_id:
            raise refused("bad_azp", "The launch token's authorized party (azp) is not this tool's client_id.")
        self._platform = platform
        self._client_id = platform.client_id
        self._tool_conf.know(platform)
        try:
            super().validate_registration()
        except LtiException as error:
            raise refused("unknown_iss", f"The platform registration could not be used: {error}") from None
        return self

    def validate_jwt_signature(self) -> StrictMessageLaunch:
        assert self._platform is not None  # noqa: S101 - validate_registration ran first
        kid = str(self._header["kid"])
        try:
            key = self._key_sets.key(self._platform.key_set_url, kid)
        except PlatformKeyError as error:
            raise refused("unknown_kid", f"The key that signed this launch cannot be used: {error.reason}") from None
        try:
            jwt.decode(
                self._get_request_param("id_token"),
                key,
                algorithms=["RS256"],
                audience=self._platform.client_id,
                issuer=self._platform.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise refused("expired", "The launch token has expired.") from None
        except jwt.ImmatureSignatureError:
            raise refused("iat_future", "The launch token was issued in the future; the platform's clock may be "
                          "wrong.", advice="Try again in a minute, or tell your LMS administrator.") from None
        except jwt.MissingRequiredClaimError as error:
            raise refused("missing_claim", f"The launch token lacks the required claim {error.claim!r}.") from None
        except jwt.InvalidAudienceError:
            raise refused("wrong_aud", "The launch token was issued for another tool.") from None
        except jwt.InvalidIssuerError:
            raise refused("wrong_iss", "The launch token's issuer does not match the registered platform.") from None
        except jwt.InvalidSignatureError:
            raise refused("bad_signature", "The launch token's signature does not match the platform's key.") from None
        except jwt.PyJWTError as error:
            raise refused("bad_token", f"The launch token could not be verified ({type(error).__name__}).") from None
        return self

    def validate_message(self) -> StrictMessageLaunch:
        body = self._body
        version = body.get(claims.VERSION)
        if version != claims.LTI_VERSION:
            shown = "none" if version is None else repr(version)
            raise refused("bad_version", f"The launch is not an LTI 1.3 launch (version {shown}, expected '1.3.0').")
        message_type = body.get(claims.MESSAGE_TYPE)
        if not message_type:
            raise refused("missing_message_type", "The launch does not say what kind of message it is "
                          "(no message_type).")
        if message_type not in claims.SUPPORTED_MESSAGE_TYPES:
            raise refused("bad_message_type", f"This tool does not handle {message_type!r} messages.")
        if not body.get(claims.DEPLOYMENT_ID):
            raise refused("missing_deployment_id", "The launch does not name its deployment (no deployment_id).")
        roles = body.get(claims.ROLES)
        if not isinstance(roles, list):
            raise refused("missing_roles", "The launch has no roles claim (an empty list is fine, a missing one is "
                          "not).")
        if not body.get("sub"):
            raise refused("missing_sub", "The launch does not identify the user (no sub).")
        if message_type == claims.RESOURCE_LINK_REQUEST:
            link = body.get(claims.RESOURCE_LINK)
            if not isinstance(link, dict) or not link.get("id"):
                raise refused("missing_resource_link", "The launch has no resource link id.")
        if message_type == claims.DEEP_LINKING_REQUEST:
            settings = body.get(claims.DEEP_LINKING_SETTINGS)
            if not isinstance(settings, dict) or not settings.get("deep_link_return_url"):
                raise refused("missing_deep_linking_settings", "The deep linking request has no return URL.")
        try:
            super().validate_message()
        except LtiException as error:
            raise refused("bad_message", f"The launch message is not valid: {error}") from None
        return self

    def validate_nonce(self) -> StrictMessageLaunch:
        """Check the state and nonce against the login (a read: `record` uses them up, with the launch's other
        writes at the end of the transaction)."""
        assert self._platform is not None  # noqa: S101 - validate_registration ran first
        state = self._get_request_param("state")
        nonce = self._body.get("nonce")
        if not state:
            raise refused("missing_state", "The launch does not carry the login state.")
        if not nonce:
            raise refused("missing_nonce", "The launch token has no nonce.")
        row = self._session.execute(_LOGIN_OF_STATE, {"given_state": state}).one_or_none()
        if row is None or row.platform_id != self._platform.id:
            raise refused("unknown_state", "This launch does not match a login started by this tool.")
        if not isinstance(nonce, str) or row.nonce != nonce:
            raise refused("nonce_mismatch", "The launch token's nonce is not the one issued at login.")
        if row.consumed_at is not None:
            raise refused("replayed", "This launch was already used.")
        if aware(row.expires_at) < utc_now():
            raise refused("state_expired", "The login for this launch took too long and expired.")
        return self

    def _use_login(self) -> None:
        """Use the login's state and nonce up, once: one statement checks and flips consumed_at, so of two
        launches arriving together only the first wins (the other is refused as a replay)."""
        assert self._platform is not None  # noqa: S101 - validate ran first
        consumed = self._session.execute(_USE_LOGIN, {
            "given_state": self._get_request_param("state"), "of_platform": self._platform.id,
            "given_nonce": self._body.get("nonce"), "now": utc_now()}).rowcount  # type: ignore[attr-defined]
        if consumed != 1:
            raise refused("replayed", "This launch was already used.")

    def validate_deployment(self) -> StrictMessageLaunch:
        assert self._platform is not None  # noqa: S101 - validate_registration ran first
        deployment_id = str(self._body[claims.DEPLOYMENT_ID])
        row = self._deployment = find_deployment(self._session, self._platform, deployment_id)
        if row is None:
            # Two first launches of a new deployment at once must both get the sentence, not one a 500.
            insert_or_ignore(self._session, DeploymentRow,
                             {"platform_id": self._platform.id, "deployment_id": deployment_id, "status": PENDING,
                              "created_at": utc_now()}, ["platform_id", "deployment_id"])
        if row is None or row.status != ACTIVE:
            # Used up and committed with the pending record: a token refused while the deployment waits must not
            # launch once an administrator approves it.
            self._use_login()
            self._session.commit()
            raise self._pending(deployment_id)
        return self

    def _pending(self, deployment_id: str) -> LtiRefusal:
        assert self._platform is not None  # noqa: S101 - validate_registration ran first
        return refused(
            "pending_deployment",
            f"This installation of the tool (deployment {deployment_id} of {self._platform.name}) is waiting for "
            "approval.",
            status=403,
            advice=(
                "An administrator must approve it: marketplace deployment approve --issuer "
                f"{self._platform.issuer} --client-id {self._platform.client_id} --deployment-id {deployment_id}"
            ),
        )

    # -- result -------------------------------------------------------------------------------------
    # Reads first, writes last. On SQLite a transaction holds the database's one write lock from its first
    # write to its commit, and every other launch, login and answer of every worker queues behind it: with the
    # writes in the middle of the launch (the nonce first), ten users held the lock 77 to 93% of the time.
    def prepare(self, *, confirmed: bool, handoff_hash: str | None) -> VerifiedLaunch:
        """Build the launch row (nothing written yet; `record` writes it) and return it as a VerifiedLaunch."""
        assert self._platform is not None  # noqa: S101 - validate ran first
        # A link copied into another course without its custom values still finds its resource; a link
        # that names it is remembered for such copies (lti/course_copies.py).
        body = resolve_copied_link(self._session, self._platform.id, self._body)
        self._remember = body is self._body
        self._body = body
        deployment = self._deployment
        if deployment is None or deployment.deployment_id != str(body[claims.DEPLOYMENT_ID]):
            deployment = find_deployment(self._session, self._platform, str(body[claims.DEPLOYMENT_ID]))
        assert deployment is not None  # noqa: S101 - validate_deployment ran first
        context = LaunchContext.from_claims(
            self._launch_id, body, client_id=self._platform.client_id, platform_name=self._platform.name,
            platform_id=self._platform.id,
        )
        now = utc_now()
        self._row = {
            "id": self._launch_id,
            "platform_id": self._platform.id,
            "deployment_row_id": deployment.id,
            "state": self._get_request_param("state"),
            "message_type": context.message_type,
            "user_sub": context.user_sub,
            "context": {"id": context.context_id, "title": context.context_title, "label": context.context_label},
            "claims": body,
            "created_at": now,
            "expires_at": now + LAUNCH_LIFETIME,
            "confirmed_at": now if confirmed else None,
            "handoff_hash": handoff_hash,
            "selection": [],
            # No response yet: left out, so the columns are NULL (None in a JSON column would be JSON null).
        }
        return VerifiedLaunch(context, self._get_request_param("state"), confirmed, self._platform.auth_login_url)

    def record(self) -> None:
        """The launch's writes, one after the other (the caller commits): the login used up, the link
        remembered, the launch row."""
        assert self._platform is not None and self._row is not None  # noqa: S101 - prepare ran first
        self._use_login()
        if self._remember:
            remember_link(self._session, self._platform.id, self._body, utc_now())
        self._session.execute(_INSERT_LAUNCH, self._row)
