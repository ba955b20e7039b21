"""How many dynamic registrations one client address may start in a minute (the registration door)."""

from __future__ import annotations

import threading
import time
from collections import deque

# A real administrator registers a platform or two; a client starting more than this is refused a while.
REGISTRATIONS_PER_WINDOW = 5
WINDOW_SECONDS = 60.0
MAX_TRACKED_CLIENTS = 10_000


class RegistrationRateLimit:
    """Sliding-window count of registration attempts per client address, held per process.

    Per process is enough for this door: with N workers an address gets at most N times the allowance, and
    the cap on pending registrations (in the database) bounds what all of them together can store.
    """

    def __init__(self, limit: int = REGISTRATIONS_PER_WINDOW, window: float = WINDOW_SECONDS) -> None:
        self.limit = limit
        self.window = window
        self._attempts: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str) -> bool:
        now = time.monotonic()
        with self._lock:
            attempts = self._attempts.setdefault(client, deque())
            while attempts and now - attempts[0] >= self.window:
                attempts.popleft()
            if len(attempts) >= self.limit:
                return False
            attempts.append(now)
            if len(self._attempts) > MAX_TRACKED_CLIENTS:
                self._attempts = {key: value for key, value in self._attempts.items() if value}
            return True
