"""Platforms' public keys: fetched with timeouts, cached, refetched on an unknown kid at a limited rate.

PyLTI1p3 fetches a JWKS with `requests` and no timeout, caches it without ever refreshing on an unknown
kid (so a platform key rotation breaks launches until a restart), and converts every key to PEM for every
verification. Here every key is parsed once into a PyJWK object, RS256 only.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import httpx
import jwt

from marketplace.metrics import count_platform_call

logger = logging.getLogger("marketplace.lti")

JWKS_TIMEOUT = httpx.Timeout(10.0, connect=3.0)
CACHE_SECONDS = 3600.0
MIN_SECONDS_BETWEEN_FETCHES = 5.0
# How long keys already held keep serving while the platform's key set endpoint fails.
MAX_STALE_SECONDS = 24 * 3600.0
MAX_JWKS_BYTES = 512 * 1024


class PlatformKeyError(Exception):
    """The platform's key for this token cannot be had; `reason` says why in plain words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class _KeySet:
    keys: dict[str, jwt.PyJWK]
    fetched_at: float
    attempted_at: float = field(default=0.0)


class PlatformKeySets:
    """A shared, thread-safe cache of platform key sets by URL.

    Refetches are limited by time per key set URL (at most one per `min_refetch_interval`, whatever kid
    asked), never by a list of kids already tried: a kid first seen in a forged token must not stay refused
    once the platform really publishes it. When a refetch of an expired set fails, the keys already held keep
    serving for up to MAX_STALE_SECONDS, so a platform's JWKS outage does not stop every launch.
    """

    def __init__(self, http: httpx.Client, *, min_refetch_interval: float = MIN_SECONDS_BETWEEN_FETCHES) -> None:
        self._http = http
        self._min_refetch_interval = min_refetch_interval
        self._sets: dict[str, _KeySet] = {}
        self._lock = threading.Lock()
        self._now = time.monotonic

    def key(self, url: str, kid: str) -> jwt.PyJWK:
        """The loaded RS256 key `kid` from the key set at `url`."""
        now = self._now()
        with self._lock:
            cached = self._sets.get(url)
        if cached is not None and kid in cached.keys and now - cached.fetched_at < CACHE_SECONDS:
            return cached.keys[kid]
        if cached is not None and now - max(cached.attempted_at, cached.fetched_at) < self._min_refetch_interval:
            # Fetched a moment ago (for this or another kid): asking again now would only help an attacker
            # make us hammer the platform. An expired key still serves until the next allowed refetch.
            if kid in cached.keys and now - cached.fetched_at < MAX_STALE_SECONDS:
                return cached.keys[kid]
            raise PlatformKeyError(f"The platform's key set has no key with id {kid!r}.")
        try:
            fresh = self._fetch(url)
        except PlatformKeyError as error:
            if cached is None:
                raise
            cached.attempted_at = now
            if kid in cached.keys and now - cached.fetched_at < MAX_STALE_SECONDS:
                logger.warning("platform key set %s could not be refreshed (%s); serving the keys fetched %.0f s "
                               "ago", url, error.reason, now - cached.fetched_at)
                return cached.keys[kid]
            raise
        with self._lock:
            self._sets[url] = fresh
        if kid not in fresh.keys:
            raise PlatformKeyError(f"The platform's key set has no key with id {kid!r}.")
        return fresh.keys[kid]

    def _fetch(self, url: str) -> _KeySet:
        try:
            response = self._http.get(url, timeout=JWKS_TIMEOUT, headers={"Accept": "application/json"})
        except httpx.HTTPError as error:
            count_platform_call("jwks", None)
            raise PlatformKeyError(
                f"The platform's key set at {url} could not be fetched ({type(error).__name__})."
            ) from None
        count_platform_call("jwks", response.status_code)
        if response.status_code != 200:
            raise PlatformKeyError(f"The platform's key set at {url} answered HTTP {response.status_code}.")
        if len(response.content) > MAX_JWKS_BYTES:
            raise PlatformKeyError(f"The platform's key set at {url} is too large.")
        try:
            data = response.json()
            entries = data["keys"]
        except (ValueError, KeyError, TypeError):
            raise PlatformKeyError(f"The platform's key set at {url} is not a JSON Web Key Set.") from None
        keys: dict[str, jwt.PyJWK] = {}
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict) or entry.get("kty") != "RSA" or entry.get("alg", "RS256") != "RS256":
                continue
            if entry.get("use", "sig") != "sig" or not isinstance(entry.get("kid"), str):
                continue
            try:
                keys[entry["kid"]] = jwt.PyJWK(entry, algorithm="RS256")
            except jwt.PyJWTError:
                continue
        return _KeySet(keys, self._now())
