"""Platform Notification Service: notice batches received, each notice verified, recorded once and handled.

A platform POSTs `{"notices": [{"jwt": "<JWT>"}, ...]}` to the handler the tool subscribed (`notice_subscriptions`).
Each JWT is verified as strictly as a launch: RS256 with a key from the registered platform's JWKS, its `iss`,
its `aud` (and `azp` when `aud` lists several), `exp` and `iat` within the leeway, LTI version 1.3.0, and a
deployment the administrator approved. A notice is recorded under its platform and notice id, once: a batch
delivered again (a platform retrying, or a replay) is acknowledged without doing anything twice.

Handled types: `LtiHelloWorldNotice` (recorded: proof the subscription works) and `LtiContextCopyNotice` (the
copied course is mapped to its origins, `course_copies`). Any other type is recorded as unhandled and
acknowledged, so a platform that adds types does not see failures.

Canvas does not retry a failed delivery, so a notice that cannot be verified is answered in detail (207 with a
status per notice) rather than by failing the whole batch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from marketplace.errors import RequestError
from marketplace.lti import claims
from marketplace.lti.course_copies import record_copy
from marketplace.lti.platform_keys import PlatformKeyError, PlatformKeySets
from marketplace.store.models import NoticeRow, PlatformRow
from marketplace.store.registrations import ACTIVE, find_deployment, platforms_of_issuer

logger = logging.getLogger("marketplace.notices")

NOTICE = "https://purl.imsglobal.org/spec/lti/claim/notice"
ORIGIN_CONTEXTS = "https://purl.imsglobal.org/spec/lti/claim/origin_contexts"
HELLO_WORLD = "LtiHelloWorldNotice"
CONTEXT_COPY = "LtiContextCopyNotice"
HANDLED_TYPES = (HELLO_WORLD, CONTEXT_COPY)
MAX_NOTICES = 200  # Canvas's max_batch_size defaults far lower; more in one request is not a platform
MAX_BODY_BYTES = 2 * 1024 * 1024
LEEWAY_SECONDS = 60
MAX_ID = 255


@dataclass(frozen=True, slots=True)
class NoticeOutcome:
    """What became of one notice of a batch: `status` 200 (handled now or before), 4xx (refused) or 503."""

    index: int
    notice_id: str | None
    notice_type: str | None
    status: int
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"index": self.index, "id": self.notice_id, "type": self.notice_type, "status": self.status,
                "message": self.message}


class NoticeRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def notice_tokens(body: Any) -> list[Any]:
    """The JWTs of a batch body; RequestError (400) when the body is not a notice batch at all."""
    notices = body.get("notices") if isinstance(body, dict) else None
    if not isinstance(notices, list) or not notices:
        raise RequestError(400, 'A notice batch is a JSON object {"notices": [{"jwt": "..."}, ...]} with at least '
                           "one notice.")
    if len(notices) > MAX_NOTICES:
        raise RequestError(413, f"A notice batch holds at most {MAX_NOTICES} notices; this one holds "
                           f"{len(notices)}.")
    return [entry.get("jwt") if isinstance(entry, dict) else None for entry in notices]


def receive_batch(sessions: sessionmaker[Session], key_sets: PlatformKeySets, body: Any,
                  now: datetime) -> list[NoticeOutcome]:
    """Verify, record and handle every notice of a batch (blocking); one outcome per notice, in order."""
    outcomes = []
    for index, token in enumerate(notice_tokens(body)):
        try:
            outcomes.append(_receive(sessions, key_sets, index, token, now))
        except NoticeRefused as refusal:
            outcomes.append(NoticeOutcome(index, None, None, refusal.status, refusal.message))
    return outcomes


def _platform_for(session: Session, unverified: dict[str, Any]) -> PlatformRow:
    issuer = unverified.get("iss")
    audience = unverified.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if not isinstance(issuer, str):
        raise NoticeRefused(400, "The notice has no issuer (iss).")
    for platform in platforms_of_issuer(session, issuer):
        if platform.client_id in audiences:
            return platform
    raise NoticeRefused(401, "The notice comes from a platform that is not registered with this tool (iss and "
                        "aud match no approved registration).")


def _verify(session: Session, key_sets: PlatformKeySets, token: str) -> tuple[PlatformRow, dict[str, Any]]:
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise NoticeRefused(400, "The notice is not a JWT.") from None
    if header.get("alg") != "RS256" or not isinstance(header.get("kid"), str):
        raise NoticeRefused(401, "The notice must be signed with RS256 and name its key (kid).")
    platform = _platform_for(session, unverified)
    try:
        key = key_sets.key(platform.key_set_url, header["kid"])
    except PlatformKeyError as error:
        raise NoticeRefused(401, f"The key that signed the notice cannot be used: {error.reason}") from None
    try:
        body: dict[str, Any] = jwt.decode(token, key, algorithms=["RS256"], audience=platform.client_id,
                                          issuer=platform.issuer, leeway=LEEWAY_SECONDS,
                                          options={"require": ["exp", "iat", "iss", "aud"]})
    except jwt.ExpiredSignatureError:
        raise NoticeRefused(401, "The notice has expired.") from None
    except jwt.InvalidAudienceError:
        raise NoticeRefused(401, "The notice was issued for another tool (aud).") from None
    except jwt.InvalidSignatureError:
        raise NoticeRefused(401, "The notice's signature does not match the platform's key.") from None
    except jwt.PyJWTError as error:
        raise NoticeRefused(401, f"The notice could not be verified ({type(error).__name__}).") from None
    audience = body["aud"]
    if isinstance(audience, list) and len(audience) > 1 and body.get("azp") != platform.client_id:
        raise NoticeRefused(401, "The notice names several audiences but not this tool as its authorized party "
                            "(azp).")
    if body.get(claims.VERSION) != claims.LTI_VERSION:
        raise NoticeRefused(400, "The notice is not an LTI 1.3.0 message (version claim).")
    return platform, body


def _notice_claim(body: dict[str, Any]) -> tuple[str, str]:
    notice = body.get(NOTICE)
    if not isinstance(notice, dict):
        raise NoticeRefused(400, "The notice lacks its notice claim (id, timestamp, type).")
    notice_id, notice_type = notice.get("id"), notice.get("type")
    if not isinstance(notice_id, str) or not notice_id or len(notice_id) > MAX_ID:
        raise NoticeRefused(400, "The notice's id is missing or longer than 255 characters.")
    if not isinstance(notice_type, str) or not notice_type or len(notice_type) > MAX_ID:
        raise NoticeRefused(400, "The notice's type is missing or longer than 255 characters.")
    return notice_id, notice_type


def _receive(sessions: sessionmaker[Session], key_sets: PlatformKeySets, index: int, token: Any,
             now: datetime) -> NoticeOutcome:
    if not isinstance(token, str) or not token:
        raise NoticeRefused(400, 'Each notice is an object {"jwt": "<JWT>"}.')
    with sessions() as session:
        platform, body = _verify(session, key_sets, token)
        notice_id, notice_type = _notice_claim(body)
        deployment_id = body.get(claims.DEPLOYMENT_ID)
        deployment = find_deployment(session, platform, deployment_id) if isinstance(deployment_id, str) else None
        if deployment is None or deployment.status != ACTIVE:
            raise NoticeRefused(403, "The notice names a deployment that is not approved for this tool.")
        seen = session.scalars(select(NoticeRow.id).where(NoticeRow.platform_id == platform.id,
                                                          NoticeRow.notice_id == notice_id)).first()
        if seen is not None:
            return NoticeOutcome(index, notice_id, notice_type, 200, "Already received.")
        handled = notice_type in HANDLED_TYPES
        session.add(NoticeRow(platform_id=platform.id, deployment_id=deployment_id, notice_id=notice_id,
                              notice_type=notice_type, handled=handled, received_at=now,
                              context_id=_context_id(body)))
        message = "Received."
        try:  # a copy notice's handling flushes the notice's row: the unique notice id can fail it there too
            if notice_type == CONTEXT_COPY:
                message = _handle_copy(session, platform, str(deployment_id), notice_id, body, now)
            elif not handled:
                message = "Received; this tool does not act on this notice type."
            session.commit()
        except IntegrityError:
            # Another process recorded the same notice a moment ago: it was handled there.
            session.rollback()
            return NoticeOutcome(index, notice_id, notice_type, 200, "Already received.")
    logger.info("notice %s received", notice_type, extra={"notice_id": notice_id, "platform_id": platform.id})
    return NoticeOutcome(index, notice_id, notice_type, 200, message)


def _context_id(body: dict[str, Any]) -> str | None:
    context = body.get(claims.CONTEXT)
    value = context.get("id") if isinstance(context, dict) else None
    return value[:MAX_ID] if isinstance(value, str) else None


def _handle_copy(session: Session, platform: PlatformRow, deployment_id: str, notice_id: str,
                 body: dict[str, Any], now: datetime) -> str:
    copied = _context_id(body)
    origins = body.get(ORIGIN_CONTEXTS)
    if not copied:
        raise NoticeRefused(400, "A context copy notice must name the new course (context claim).")
    if not isinstance(origins, list) or not origins or not all(isinstance(o, str) and o for o in origins):
        raise NoticeRefused(400, "A context copy notice must list the courses it was copied from (origin_contexts).")
    for origin in origins:
        record_copy(session, platform.id, deployment_id, copied, origin[:MAX_ID], notice_id, now)
    return f"Course {copied} is mapped to {len(origins)} original course(s)."
