"""Platform notices as Canvas sends them (shared reference, section 6), signed by the loopback platform."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt

from tests.lti.peer import PlatformPeer, RsaKey

NOTICE = "https://purl.imsglobal.org/spec/lti/claim/notice"
ORIGIN_CONTEXTS = "https://purl.imsglobal.org/spec/lti/claim/origin_contexts"
CONTEXT = "https://purl.imsglobal.org/spec/lti/claim/context"


def notice_claims(peer: PlatformPeer, notice_type: str, *, notice_id: str | None = None, context: str = "course-1",
                  **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": peer.issuer, "aud": peer.client_id, "azp": peer.client_id, "iat": now, "exp": now + 3600,
        "nonce": uuid.uuid4().hex,
        "https://purl.imsglobal.org/spec/lti/claim/deployment_id": peer.deployment_id,
        "https://purl.imsglobal.org/spec/lti/claim/version": "1.3.0",
        NOTICE: {"id": notice_id or str(uuid.uuid4()), "timestamp": "2026-12-06T05:00:00Z", "type": notice_type},
        CONTEXT: {"id": context, "title": "Biology 101"},
    }
    if notice_type == "LtiHelloWorldNotice":
        claims["https://www.instructure.com/hello_world"] = {"title": "Hello World!",
                                                              "message": "You have successfully subscribed"}
    claims.update(extra)
    return claims


def sign_notice(peer: PlatformPeer, claims: dict[str, Any], key: RsaKey | None = None, kid: str | None = None) -> str:
    signer = key or peer.signing_key
    return jwt.encode(claims, signer.private_pem, algorithm="RS256", headers={"kid": kid or signer.kid})


def batch(*tokens: str) -> dict[str, Any]:
    return {"notices": [{"jwt": token} for token in tokens]}
