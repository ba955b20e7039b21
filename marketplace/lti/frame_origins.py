"""Which sites may frame the tool: the origins of the approved platforms.

Canvas pages live on each school's own domain, not on the issuer's, so besides the issuer and login URL
origins this includes origins learned from verified launches (`handoff.learn_frame_origin`), and
`*.instructure.com` for Canvas cloud.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from marketplace.platform_urls import safe_origin
from marketplace.store.registrations import active_platforms

CANVAS_CLOUD_ISSUERS = ("https://canvas.instructure.com", "https://canvas.beta.instructure.com",
                        "https://canvas.test.instructure.com")
CANVAS_CLOUD_FRAMERS = "https://*.instructure.com"


def framing_origins(sessions: sessionmaker[Session]) -> list[str]:
    """The origins allowed to frame the tool, sorted (blocking)."""
    origins: set[str] = set()
    with sessions() as session:
        # Approved platforms only: a self-registered one waits for an administrator (see store_registration).
        for platform in active_platforms(session):
            for url in (platform.issuer, platform.auth_login_url, *platform.frame_origins):
                origin = safe_origin(url)  # rows stored before the door was fixed may hold anything
                if origin:
                    origins.add(origin)
            if platform.issuer in CANVAS_CLOUD_ISSUERS:
                origins.add(CANVAS_CLOUD_FRAMERS)
    return sorted(origins)
