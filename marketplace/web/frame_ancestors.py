"""The CSP frame-ancestors value: the approved platforms' origins (`lti.frame_origins`), kept fresh."""

from __future__ import annotations

import time

from sqlalchemy.orm import Session, sessionmaker

from marketplace.lti.frame_origins import framing_origins

REFRESH_SECONDS = 30.0


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
        self._value = " ".join(framing_origins(self._sessions))
        self._computed_at = time.monotonic()

    def invalidate(self) -> None:
        self._computed_at = float("-inf")
