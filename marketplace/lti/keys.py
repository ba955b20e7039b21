"""The tool's signing keys: generation, encryption at rest, rotation, the published JWKS, loaded key objects.

Three keys matter at any time: the active one (signs), the next one (already published, so platforms that
cache our JWKS know it before it signs anything) and the previous one (still published for a while, so
tokens signed just before a rotation still verify). `rotate` moves each one step along.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from jwt.algorithms import RSAAlgorithm
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from marketplace.clock import utc_now
from marketplace.keyed import Purpose, SealBroken, needs_resealing, seal, unseal
from marketplace.store.models import ToolKeyRow, table_of

KEY_BITS = 2048
PREVIOUS_KEY_PUBLISHED_FOR = timedelta(days=30)


class ToolKeyError(RuntimeError):
    """A key cannot be used (for example it was encrypted with another secret key)."""


def new_key_row(secret_key: str) -> ToolKeyRow:
    """A fresh RSA key pair as an unsaved row (not yet active)."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    kid = uuid.uuid4().hex
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(private_key.public_key()))
    jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
    return ToolKeyRow(
        kid=kid,
        private_key_encrypted=seal(pem, secret_key, Purpose.TOOL_PRIVATE_KEYS),
        public_jwk=jwk,
        created_at=utc_now(),
    )


def load_private_key(row: ToolKeyRow, secret_key: str) -> RSAPrivateKey:
    try:
        pem = unseal(row.private_key_encrypted, secret_key, Purpose.TOOL_PRIVATE_KEYS)
    except SealBroken:
        raise ToolKeyError(
            f"The tool key {row.kid} cannot be decrypted with this MARKETPLACE_SECRET_KEY; "
            "restore the secret key it was created with, or run `marketplace keys rotate` twice."
        ) from None
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, RSAPrivateKey):
        raise ToolKeyError(f"The tool key {row.kid} is not an RSA key.")
    return key




@dataclass(frozen=True, slots=True)
class KeyStatus:
    kid: str
    role: str  # "active", "next", "previous" or "retired"
    created_at: datetime
    activated_at: datetime | None
    retired_at: datetime | None

_TOOL_KEYS = table_of(ToolKeyRow)
# The key every answer and every readiness check signs with: the newest activated key not retired, which is the
# one `key_statuses` calls active. Read on its own, built once: listing every key (private parts included, and
# retired keys pile up over the years) on each answer cost more than the answer's other reads.
_ACTIVE_KID = (select(_TOOL_KEYS.c.kid)
               .where(_TOOL_KEYS.c.activated_at.is_not(None), _TOOL_KEYS.c.retired_at.is_(None))
               .order_by(_TOOL_KEYS.c.created_at.desc()).limit(1))


def active_kid(session: Session) -> str | None:
    """The kid of the active key, or None before the first key is made."""
    kid: str | None = session.scalar(_ACTIVE_KID)
    return kid


def key_statuses(session: Session, now: datetime | None = None) -> list[KeyStatus]:
    """Every key with its role, newest first."""
    now = now or utc_now()
    rows = list(session.scalars(select(ToolKeyRow).order_by(ToolKeyRow.created_at.desc())))
    statuses: list[KeyStatus] = []
    previous_seen = False
    for row in rows:
        retired = row.retired_at
        activated = row.activated_at
        if retired is not None:
            role = "retired"
            if not previous_seen and now - retired <= PREVIOUS_KEY_PUBLISHED_FOR:
                role, previous_seen = "previous", True
        elif activated is not None:
            role = "active"
        else:
            role = "next"
        statuses.append(KeyStatus(row.kid, role, row.created_at or now, activated, retired))
    return statuses


def ensure_keys(session: Session, secret_key: str) -> None:
    """Make sure an active and a next key exist (the caller commits)."""
    statuses = key_statuses(session)
    roles = {status.role for status in statuses}
    if "active" not in roles:
        pending = [status for status in statuses if status.role == "next"]
        if pending:
            row = session.get(ToolKeyRow, pending[-1].kid)
            assert row is not None  # noqa: S101 - listed just above
            row.activated_at = utc_now()
        else:
            row = new_key_row(secret_key)
            row.activated_at = utc_now()
            session.add(row)
        session.flush()
    if "next" not in {status.role for status in key_statuses(session)}:
        session.add(new_key_row(secret_key))
        session.flush()
    reseal_legacy_keys(session, secret_key)


def reseal_legacy_keys(session: Session, secret_key: str) -> int:
    """Seal again, under the key derived for tool keys, every private key still sealed under the legacy key
    (see `marketplace.keyed`); returns how many. Keys this secret cannot open are left as they are: reading them
    says what to do. The caller commits."""
    resealed = 0
    for row in session.scalars(select(ToolKeyRow)):
        try:
            pem = unseal(row.private_key_encrypted, secret_key, Purpose.TOOL_PRIVATE_KEYS)
        except SealBroken:
            continue
        if needs_resealing(row.private_key_encrypted, secret_key, Purpose.TOOL_PRIVATE_KEYS):
            row.private_key_encrypted = seal(pem, secret_key, Purpose.TOOL_PRIVATE_KEYS)
            resealed += 1
    if resealed:
        session.flush()
    return resealed


def rotate(session: Session, secret_key: str) -> tuple[str, str]:
    """Retire the active key, activate the next one, create a new next one; returns (retired, active) kids.

    Every active key is retired, not just one: workers starting together on a fresh database can each
    have created one, and a rotation must leave exactly one signing.
    """
    ensure_keys(session, secret_key)
    statuses = key_statuses(session)
    actives = [status.kid for status in statuses if status.role == "active"]
    upcoming_kid = next(status.kid for status in statuses if status.role == "next")
    now = utc_now()
    for kid in actives:
        row = session.get(ToolKeyRow, kid)
        assert row is not None  # noqa: S101 - listed just above
        row.retired_at = now
    upcoming = session.get(ToolKeyRow, upcoming_kid)
    assert upcoming is not None  # noqa: S101 - listed just above
    upcoming.activated_at = now
    session.flush()
    session.add(new_key_row(secret_key))
    session.flush()
    return actives[0], upcoming.kid


def published_jwks(session: Session) -> dict[str, list[dict[str, Any]]]:
    """The public keys platforms may verify our tokens with: next, active and previous."""
    wanted = {status.kid for status in key_statuses(session) if status.role in {"active", "next", "previous"}}
    rows = session.scalars(select(ToolKeyRow).where(ToolKeyRow.kid.in_(wanted)))
    return {"keys": [dict(row.public_jwk) for row in sorted(rows, key=lambda row: row.kid)]}


class SigningKeys:
    """Loaded private key objects by kid, decrypted once per process (a PEM per signature costs ~100x)."""

    def __init__(self, secret_key: str) -> None:
        self._secret_key = secret_key
        self._loaded: dict[str, RSAPrivateKey] = {}
        self._lock = threading.Lock()

    def active(self, session: Session) -> tuple[str, RSAPrivateKey]:
        """The active key's kid and loaded private key."""
        kid = active_kid(session)
        if kid is None:
            # A fresh installation: create the keys now (the caller's transaction commits them).
            ensure_keys(session, self._secret_key)
            kid = next(status.kid for status in key_statuses(session) if status.role == "active")
        with self._lock:
            key = self._loaded.get(kid)
        if key is None:
            row = session.get(ToolKeyRow, kid)
            assert row is not None  # noqa: S101 - listed just above
            key = load_private_key(row, self._secret_key)
            with self._lock:
                self._loaded[kid] = key
        return kid, key


    def problem(self, sessions: sessionmaker[Session]) -> str | None:
        """What keeps the tool from signing (no active key, or one this secret cannot open), or None.
        Read-only: readiness checks must not create keys."""
        with sessions() as session:
            kid = active_kid(session)
            if kid is None:
                return "The tool has no active signing key yet (it is made at start-up)."
            with self._lock:
                if kid in self._loaded:
                    return None
            row = session.get(ToolKeyRow, kid)
            assert row is not None  # noqa: S101 - listed just above
            try:
                key = load_private_key(row, self._secret_key)
            except ToolKeyError as error:
                return str(error)
            with self._lock:
                self._loaded[kid] = key
            return None


def public_key_set(sessions: sessionmaker[Session], secret_key: str) -> dict[str, Any]:
    """The JWKS to publish (next, active and previous keys), making the first keys if there are none yet."""
    with sessions() as session:
        ensure_keys(session, secret_key)
        session.commit()
        return published_jwks(session)
