"""Signed, expiring download URLs for portfolio files, for servers (Canvas) that fetch without our session.

A URL signature is an HMAC over the item id and the expiry time; the standard library's `hmac` is all it
takes, so no token library (and no token format to misconfigure) is involved. The HMAC key is derived from
the secret key for this one purpose, so a signature here can never be replayed as any other token the tool
issues with the same secret.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from urllib.parse import urlencode

from marketplace.store.models import PortfolioItemRow, utc_now

URL_LIFETIME = timedelta(hours=2)
_PURPOSE = b"lti-marketplace/portfolio-file-url/v1"
_MAX_EXPIRES_DIGITS = 12  # an int parse of an attacker's 10,000-digit string is wasted work


class SignatureRefused(Exception):
    """The download URL is not one we signed, or it has expired; `expired` tells which, for the message."""

    def __init__(self, expired: bool) -> None:
        super().__init__("expired" if expired else "invalid")
        self.expired = expired


def _key(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode("utf-8"), _PURPOSE, hashlib.sha256).digest()


def signature(item_id: str, expires: int, secret_key: str) -> str:
    """The hex HMAC-SHA256 of one item id and expiry time."""
    message = f"{item_id}\n{expires}".encode()
    return hmac.new(_key(secret_key), message, hashlib.sha256).hexdigest()


def expiry(lifetime: timedelta = URL_LIFETIME, now: datetime | None = None) -> int:
    """The unix time a URL signed now with this lifetime expires."""
    return int(((now or utc_now()) + lifetime).timestamp())


def signed_path(item_id: str, expires: int, secret_key: str) -> str:
    """`/portfolio/files/<id>?expires=…&signature=…`."""
    query = urlencode({"expires": expires, "signature": signature(item_id, expires, secret_key)})
    return f"/portfolio/files/{item_id}?{query}"


def signed_file_url(base_url: str, item: PortfolioItemRow, secret_key: str, lifetime: timedelta = URL_LIFETIME,
                    now: datetime | None = None) -> str:
    """An absolute download URL for a file item that works without a session until it expires."""
    return base_url.rstrip("/") + signed_path(item.id, expiry(lifetime, now), secret_key)


def verify(item_id: str, expires: str, given: str, secret_key: str, now: datetime | None = None) -> None:
    """SignatureRefused unless `given` signs this item id and expiry, and the expiry is still ahead."""
    if not expires.isascii() or not expires.isdigit() or len(expires) > _MAX_EXPIRES_DIGITS:
        raise SignatureRefused(expired=False)
    expected = signature(item_id, int(expires), secret_key)
    # Constant time, so the signature cannot be guessed byte by byte from response timings.
    if not hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8", "replace")):
        raise SignatureRefused(expired=False)
    if int(expires) <= int((now or utc_now()).timestamp()):
        raise SignatureRefused(expired=True)
