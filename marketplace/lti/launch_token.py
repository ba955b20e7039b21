"""Launch tokens: short-lived, signed, carried by every later request of a launched page in a header.

A header rather than a cookie, because third-party cookies are blocked in many LMS iframes. Signed with the
tool's launch key (`marketplace.keyed`): only this tool issues and reads them.
"""

from __future__ import annotations

from datetime import timedelta

from marketplace.keyed import Purpose, TokenExpired, TokenInvalid, read_claims, sign
from marketplace.lti.errors import LtiRefusal

HEADER = "X-Launch-Token"
LIFETIME = timedelta(hours=2)


def issue(launch_id: str, secret_key: str, lifetime: timedelta = LIFETIME) -> str:
    return sign({"lid": launch_id}, secret_key, Purpose.LAUNCH, lifetime)


def read(token: str | None, secret_key: str) -> str:
    """The launch id in a valid token; LtiRefusal (401) when missing, expired or not ours."""
    if not token:
        raise LtiRefusal("launch_token_missing", "This page is not connected to a launch. Open the tool again from "
                         "your course.", 401)
    try:
        claims = read_claims(token, secret_key, Purpose.LAUNCH, require=["lid"])
    except TokenExpired:
        raise LtiRefusal("launch_token_expired", "This session has expired. Open the tool again from your course.",
                         401) from None
    except TokenInvalid:
        raise LtiRefusal("launch_token_invalid", "This session is not valid here. Open the tool again from your "
                         "course.", 401) from None
    return str(claims["lid"])
