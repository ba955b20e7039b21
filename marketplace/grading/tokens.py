"""Service access tokens: OAuth2 client_credentials with a signed JWT assertion (LTI Security Framework).

A token is cached per platform and scope set until shortly before it expires, in memory and in the database,
so every job and every process shares it; one process asks the platform for a new one while the others wait.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import anyio.to_thread
import httpx
import jwt
from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from marketplace.clock import aware, utc_now
from marketplace.grading.service_http import ServiceFailure, call, json_body
from marketplace.keyed import Purpose, SealBroken, seal, unseal
from marketplace.lti.keys import SigningKeys
from marketplace.store.models import AccessTokenRow, PlatformRow

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
EARLY_RENEWAL = timedelta(seconds=120)  # a token this close to expiry may die in flight: renew it first
REFRESH_LEASE = timedelta(seconds=30)
WAIT_FOR_OTHER = 10.0


def scope_key(scopes: Sequence[str]) -> str:
    return hashlib.sha256(" ".join(sorted(set(scopes))).encode("utf-8")).hexdigest()


class AccessTokens:
    """Tokens for platform services, shared by all jobs (in memory) and all processes (in the database)."""

    def __init__(self, sessions: sessionmaker[Session], client: httpx.AsyncClient, signing: SigningKeys,
                 secret_key: str, *, now: Callable[[], datetime] = utc_now) -> None:
        self._sessions = sessions
        self._client = client
        self._signing = signing
        self._secret_key = secret_key
        self._now = now
        self._memory: dict[tuple[int, str], tuple[str, datetime]] = {}
        self._locks: dict[tuple[int, str], asyncio.Lock] = {}
        self.requests = 0  # token requests this process sent (benchmarks and tests read it)

    async def get(self, platform_id: int, scopes: Sequence[str]) -> str:
        """A valid token for these scopes on this platform."""
        key = (platform_id, scope_key(scopes))
        cached = self._fresh(key)
        if cached:
            return cached
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._fresh(key)
            if cached:
                return cached
            deadline = time.monotonic() + WAIT_FOR_OTHER
            owner = uuid.uuid4().hex
            while True:
                stored, mine = await anyio.to_thread.run_sync(self._stored_or_lease, key, scopes, owner)
                if stored is not None:
                    self._memory[key] = stored
                    return stored[0]
                if mine or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)  # another process is asking the platform right now
            try:
                token, expires = await self._request(platform_id, scopes)
            except BaseException:
                await anyio.to_thread.run_sync(self._release, key, owner)  # let the next try ask at once
                raise
            await anyio.to_thread.run_sync(self._store, key, scopes, token, expires)
            self._memory[key] = (token, expires)
            return token

    async def invalidate(self, platform_id: int, scopes: Sequence[str], token: str) -> None:
        """Forget a token the platform refused (401), here and for the other processes."""
        key = (platform_id, scope_key(scopes))
        if self._memory.get(key, ("",))[0] == token:
            del self._memory[key]
        await anyio.to_thread.run_sync(self._forget, key, token)

    def _fresh(self, key: tuple[int, str]) -> str | None:
        entry = self._memory.get(key)
        if entry is not None and entry[1] - EARLY_RENEWAL > self._now():
            return entry[0]
        return None

    # -- database (worker threads) ------------------------------------------------------------------
    def _decrypt(self, row: AccessTokenRow) -> str | None:
        if not row.token_encrypted:
            return None
        try:
            return unseal(row.token_encrypted, self._secret_key, Purpose.ACCESS_TOKENS).decode("utf-8")
        except SealBroken:  # written under another secret key: ask for a new one
            return None

    def _stored_or_lease(self, key: tuple[int, str], scopes: Sequence[str],
                         owner: str) -> tuple[tuple[str, datetime] | None, bool]:
        """A valid stored token, or whether this process took the lease to fetch a new one."""
        now = self._now()
        with self._sessions() as session:
            row = session.get(AccessTokenRow, key)
            if row is not None and row.expires_at is not None and aware(row.expires_at) - EARLY_RENEWAL > now:
                token = self._decrypt(row)
                if token:
                    return (token, aware(row.expires_at)), False
            if row is None:
                session.add(AccessTokenRow(platform_id=key[0], scope_key=key[1], scopes=" ".join(sorted(scopes)),
                                           refresh_owner=owner, refresh_until=now + REFRESH_LEASE))
                try:
                    session.commit()
                    return None, True
                except IntegrityError:
                    session.rollback()
                    return None, False
            taken = session.execute(
                update(AccessTokenRow)
                .where(AccessTokenRow.platform_id == key[0], AccessTokenRow.scope_key == key[1],
                       or_(AccessTokenRow.refresh_until.is_(None), AccessTokenRow.refresh_until < now))
                .values(refresh_owner=owner, refresh_until=now + REFRESH_LEASE)
            )
            session.commit()
            return None, bool(taken.rowcount == 1)  # type: ignore[attr-defined]

    def _store(self, key: tuple[int, str], scopes: Sequence[str], token: str, expires: datetime) -> None:
        with self._sessions() as session:
            row = session.get(AccessTokenRow, key)
            encrypted = seal(token.encode("utf-8"), self._secret_key, Purpose.ACCESS_TOKENS)
            if row is None:
                session.add(AccessTokenRow(platform_id=key[0], scope_key=key[1], scopes=" ".join(sorted(scopes)),
                                           token_encrypted=encrypted, expires_at=expires))
            else:
                row.token_encrypted, row.expires_at = encrypted, expires
                row.refresh_owner, row.refresh_until = None, None
            try:
                session.commit()
            except IntegrityError:  # another process stored one at the same moment: either is fine
                session.rollback()

    def _release(self, key: tuple[int, str], owner: str) -> None:
        with self._sessions() as session:
            session.execute(update(AccessTokenRow).where(
                AccessTokenRow.platform_id == key[0], AccessTokenRow.scope_key == key[1],
                AccessTokenRow.refresh_owner == owner).values(refresh_owner=None, refresh_until=None))
            session.commit()

    def _forget(self, key: tuple[int, str], token: str) -> None:
        with self._sessions() as session:
            row = session.get(AccessTokenRow, key)
            if row is not None and self._decrypt(row) == token:
                row.token_encrypted, row.expires_at = None, None
                session.commit()

    def _assertion(self, platform: PlatformRow) -> str:
        with self._sessions() as session:
            kid, key = self._signing.active(session)
            session.commit()
        now = int(time.time())
        claims = {"iss": platform.client_id, "sub": platform.client_id,
                  # Canvas compares `aud` with its token URL exactly (a trailing slash fails).
                  "aud": platform.auth_audience or platform.auth_token_url,
                  "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex}
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})

    def _platform_and_assertion(self, platform_id: int) -> tuple[str, str]:
        with self._sessions() as session:
            platform = session.get(PlatformRow, platform_id)
            if platform is None:
                raise ServiceFailure(None, "The platform of this grade is no longer registered with this tool.")
            session.expunge(platform)
        return platform.auth_token_url, self._assertion(platform)

    # -- the platform ---------------------------------------------------------------------------------
    async def _request(self, platform_id: int, scopes: Sequence[str]) -> tuple[str, datetime]:
        token_url, assertion = await anyio.to_thread.run_sync(self._platform_and_assertion, platform_id)
        form = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion, "scope": " ".join(sorted(set(scopes)))}
        self.requests += 1
        what = "asking for an access token"
        try:
            response = await call(self._client, "POST", token_url, what=what, data=form,
                                  headers={"Accept": "application/json"}, service="token")
        except ServiceFailure as failure:
            if failure.unauthorized or failure.status in {400, 403}:
                failure.unauthorized = False  # the assertion itself was refused: a new token will not help
                failure.message += " Check the tool's registration (client_id, keys) on the platform."
            raise
        body = json_body(response, what)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise ServiceFailure(response.status_code, "The platform's token answer has no access_token.")
        expires_in = body.get("expires_in", 3600)
        seconds = float(expires_in) if isinstance(expires_in, int | float | str) and str(expires_in).replace(
            ".", "", 1).isdigit() else 3600.0
        return token, self._now() + timedelta(seconds=max(seconds, 1.0))
