"""The CSP frame-ancestors value: the approved platforms' origins (`lti.frame_origins`), kept fresh."""

from __future__ import annotations

import logging
import time

from sqlalchemy.orm import Session, sessionmaker

from marketplace.lti.frame_origins import framing_origins

REFRESH_SECONDS = 30.0
RETRY_SECONDS = 5.0
logger = logging.getLogger("marketplace.web")


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
        """Recompute from the platforms table (blocking). With the database away, the last value stays and
        the next request tries again a few seconds later: headers must not fail every page, /readyz included."""
        try:
            self._value = " ".join(framing_origins(self._sessions))
        except Exception as error:  # noqa: BLE001 - any database failure; the value we have stays right
            logger.warning("frame-ancestors not refreshed: %s", type(error).__name__)
            self._computed_at = time.monotonic() - REFRESH_SECONDS + RETRY_SECONDS
            return
        self._computed_at = time.monotonic()

    def invalidate(self) -> None:
        self._computed_at = float("-inf")
