"""Which sites may frame the tool: the registered platforms' origins (CSP frame-ancestors), kept fresh.

Canvas pages live on each school's own domain, not on the issuer's, so besides the issuer and login URL
origins this includes origins learned from verified launches, and `*.instructure.com` for Canvas cloud.
"""

from __future__ import annotations

import time

from sqlalchemy.orm import Session, sessionmaker

from marketplace.platform_urls import safe_origin
from marketplace.store.registrations import active_platforms

REFRESH_SECONDS = 30.0
CANVAS_CLOUD_ISSUERS = ("https://canvas.instructure.com", "https://canvas.beta.instructure.com",
                        "https://canvas.test.instructure.com")


CANVAS_CLOUD_FRAMERS = "https://*.instructure.com"


class FrameAncestors:
    """The platform origins (space-separated), recomputed from the database at most every 30 seconds."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._value = ""
        self._computed_at = float("-inf")

    @property
    def stale(self) -> bool:
        return time.monotonic() - self._computed_at >= REFRESH_SECONDS

    @property
    def value(self) -> str:
        return self._value

    def refresh(self) -> None:
        """Recompute from the platforms table (blocking)."""
        origins: set[str] = set()
        with self._sessions() as session:
            # Approved platforms only: a self-registered one waits for an administrator (see store_registration).
            for platform in active_platforms(session):
                for url in (platform.issuer, platform.auth_login_url, *platform.frame_origins):
                    origin = safe_origin(url)  # rows stored before the door was fixed may hold anything
                    if origin:
                        origins.add(origin)
                if platform.issuer in CANVAS_CLOUD_ISSUERS:
                    origins.add(CANVAS_CLOUD_FRAMERS)
        self._value = " ".join(sorted(origins))
        self._computed_at = time.monotonic()

    def invalidate(self) -> None:
        self._computed_at = float("-inf")
