"""Launch tokens: short-lived, signed, carried by every later request of a launched page in a header.

A header rather than a cookie, because third-party cookies are blocked in many LMS iframes. HS256 with the
tool's secret key: only this tool issues and reads them.
"""

from __future__ import annotations

from datetime import timedelta

import jwt

from marketplace.clock import utc_now
from marketplace.lti.errors import LtiRefusal

HEADER = "X-Launch-Token"
AUDIENCE = "marketplace:launch"
LIFETIME = timedelta(hours=2)


def issue(launch_id: str, secret_key: str, lifetime: timedelta = LIFETIME) -> str:
    now = utc_now()
    return jwt.encode({"lid": launch_id, "iat": now, "exp": now + lifetime, "aud": AUDIENCE}, secret_key,
                      algorithm="HS256")


def read(token: str | None, secret_key: str) -> str:
    """The launch id in a valid token; LtiRefusal (401) when missing, expired or not ours."""
    if not token:
        raise LtiRefusal("launch_token_missing", "This page is not connected to a launch. Open the tool again from "
                         "your course.", 401)
    try:
        claims = jwt.decode(token, secret_key, algorithms=["HS256"], audience=AUDIENCE,
                            options={"require": ["exp", "lid"]})
    except jwt.ExpiredSignatureError:
        raise LtiRefusal("launch_token_expired", "This session has expired. Open the tool again from your course.",
                         401) from None
    except jwt.PyJWTError:
        raise LtiRefusal("launch_token_invalid", "This session is not valid here. Open the tool again from your "
                         "course.", 401) from None
    return str(claims["lid"])
