"""Everything the tool keys with its secret: a key per purpose (HKDF), signed values (PyJWT), sealed values
(Fernet).

Why these libraries. PyJWT is already the tool's JOSE library for LTI itself (platform id_tokens, deep-linking
responses, client assertions), so values the tool signs for itself use its HS256 too, rather than a second
token library (itsdangerous) with a second format and a second set of checks to get right; `exp` and `aud`
are checked by the same code that checks every LTI message. Values kept encrypted in the database (the tool's
private keys, platform access tokens) need secrecy, which a signature does not give: Fernet (`cryptography`,
already a dependency for RSA) seals them.

Each purpose has its own key, derived from the secret key with HKDF-SHA256 (RFC 5869): a value made for one
purpose is refused for every other (its key and its audience differ), and a derived key that leaks reveals
neither the secret nor the other keys.

Before these keys, each purpose was keyed its own way (the raw secret for launch tokens and handoff cookies, a
SHA-256 or an HMAC of the secret elsewhere). Values made then are still in flight or at rest when new code
starts: launch tokens for two hours, download links for a week, sealed keys until they are re-sealed. So each
purpose keeps its old key for reading only (`_LEGACY`); nothing new is made with it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any

import jwt
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from jwt.algorithms import HMACAlgorithm

from marketplace.clock import utc_now

_HKDF_INFO_PREFIX = b"lti-marketplace/v1/"
_SIGNING = HMACAlgorithm(HMACAlgorithm.SHA256)


class Purpose(StrEnum):
    """What a keyed value is for; the value also names the audience of the tokens made for it."""

    LAUNCH = "launch"  # the launch token a launched page sends with each request
    HANDOFF_BINDING = "handoff-binding"  # the cookie that binds a handoff code to one browser
    PORTFOLIO_FILE_URL = "portfolio-file-url"  # signed download links to portfolio files
    TOOL_PRIVATE_KEYS = "tool-private-keys"  # the tool's RSA keys, sealed at rest
    ACCESS_TOKENS = "access-tokens"  # platform service tokens, sealed at rest
    SANDBOX_MESSAGE_HINT = "sandbox-message-hint"  # the sandbox LMS's lti_message_hint
    ADMIN_SESSION = "admin-session"  # the operator's page sign-in cookie
    ADMIN_FORM = "admin-form"  # the anti-CSRF value in the operator's page forms

    @property
    def audience(self) -> str:
        return f"marketplace:{self.value}"


class TokenExpired(Exception):
    """A signed value that was genuine but whose time has passed."""


class TokenInvalid(Exception):
    """A signed value this tool did not make for this purpose (or that was altered)."""


class SealBroken(Exception):
    """A sealed value that none of this secret key's keys opens (another secret key sealed it, or it changed)."""


@lru_cache(maxsize=64)
def derive_key(secret_key: str, purpose: Purpose) -> bytes:
    """The 32-byte key for one purpose (cached: every request needs one, and HKDF is the same each time)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO_PREFIX + purpose.value.encode())
    return hkdf.derive(secret_key.encode("utf-8"))


def _digest_of(label: bytes) -> Callable[[str], bytes]:
    return lambda secret: hashlib.sha256(label + secret.encode("utf-8")).digest()


# How each purpose was keyed before `derive_key`: read-only, for values made by earlier code (module doc).
_LEGACY: dict[Purpose, Callable[[str], bytes]] = {
    Purpose.LAUNCH: lambda secret: secret.encode("utf-8"),
    Purpose.HANDOFF_BINDING: lambda secret: secret.encode("utf-8"),
    Purpose.PORTFOLIO_FILE_URL: lambda secret: hmac.new(
        secret.encode("utf-8"), b"lti-marketplace/portfolio-file-url/v2", hashlib.sha256).digest(),
    Purpose.TOOL_PRIVATE_KEYS: _digest_of(b"marketplace tool keys\0"),
    Purpose.ACCESS_TOKENS: _digest_of(b"marketplace access tokens\0"),
    Purpose.SANDBOX_MESSAGE_HINT: _digest_of(b"marketplace sandbox lti_message_hint\0"),
}  # purposes added since (the operator's page) have no earlier keying


def _reading_keys(secret_key: str, purpose: Purpose) -> list[bytes]:
    legacy = _LEGACY.get(purpose)
    return [derive_key(secret_key, purpose), *([legacy(secret_key)] if legacy else [])]


# -- signed values with claims (JWT, HS256) ------------------------------------------------------------


def sign(claims: Mapping[str, Any], secret_key: str, purpose: Purpose, lifetime: timedelta) -> str:
    """A compact JWT of `claims` for this purpose, valid for `lifetime` (`iat`, `exp` and `aud` are added)."""
    now = utc_now()
    body = {**claims, "iat": now, "exp": now + lifetime, "aud": purpose.audience}
    return jwt.encode(body, derive_key(secret_key, purpose), algorithm="HS256")


def read_claims(token: str, secret_key: str, purpose: Purpose, require: Sequence[str] = ()) -> dict[str, Any]:
    """The claims of a token made by `sign` for this purpose; TokenExpired or TokenInvalid otherwise."""
    options = {"require": ["exp", "aud", *require]}
    for key in _reading_keys(secret_key, purpose):
        try:
            claims: dict[str, Any] = jwt.decode(token, key, algorithms=["HS256"], audience=purpose.audience,
                                                options=options)  # type: ignore[arg-type]
        except jwt.InvalidSignatureError:
            continue  # perhaps made under the legacy key
        except jwt.ExpiredSignatureError:
            raise TokenExpired(purpose.value) from None
        except jwt.PyJWTError:
            raise TokenInvalid(purpose.value) from None
        return claims
    raise TokenInvalid(purpose.value)


# -- detached signatures (the signed fields travel, or are recomputed, beside the signature) ---------------


def signature(message: bytes, secret_key: str, purpose: Purpose) -> str:
    """The hex HS256 (HMAC-SHA256) of `message` under this purpose's key.

    For values whose fields are not all carried with the signature: a download link signs the item's content
    hash without disclosing it, and a handoff cookie signs a code the browser already holds. A JWT would have to
    carry those fields (or use RFC 7797's detached form for a 100-character header), so the same library's
    HS256 signs the bare message instead.
    """
    return _SIGNING.sign(message, derive_key(secret_key, purpose)).hex()


def signature_matches(message: bytes, given: str, secret_key: str, purpose: Purpose) -> bool:
    """Whether `given` is this message's signature under this purpose's key (or its legacy key), in constant
    time so that a signature cannot be guessed byte by byte from response timings."""
    presented = given.encode("utf-8", "replace")
    matched = False
    for key in _reading_keys(secret_key, purpose):
        expected = _SIGNING.sign(message, key).hex().encode("ascii")
        matched |= hmac.compare_digest(expected, presented)  # no early exit: both keys always cost the same
    return matched


# -- sealed values (Fernet) ----------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _sealer(secret_key: str, purpose: Purpose) -> MultiFernet:
    # MultiFernet seals with the first key and opens with any, so legacy values still open.
    return MultiFernet([Fernet(base64.urlsafe_b64encode(key)) for key in _reading_keys(secret_key, purpose)])


def seal(plain: bytes, secret_key: str, purpose: Purpose) -> str:
    """`plain` encrypted and authenticated under this purpose's key, as ASCII text for a database column."""
    return _sealer(secret_key, purpose).encrypt(plain).decode("ascii")


def unseal(sealed: str, secret_key: str, purpose: Purpose) -> bytes:
    """The plain bytes of a sealed value; SealBroken if this secret key cannot open it."""
    try:
        return _sealer(secret_key, purpose).decrypt(sealed.encode("ascii"))
    except InvalidToken:
        raise SealBroken(purpose.value) from None


def needs_resealing(sealed: str, secret_key: str, purpose: Purpose) -> bool:
    """Whether a value that opens was sealed under a legacy key (so it should be sealed again)."""
    try:
        Fernet(base64.urlsafe_b64encode(derive_key(secret_key, purpose))).decrypt(sealed.encode("ascii"))
    except InvalidToken:
        return True
    return False
