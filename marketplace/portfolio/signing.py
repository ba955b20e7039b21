"""Signed, expiring download URLs for portfolio items, for servers (Canvas) that fetch without our session.

A URL signature is an HS256 signature (`marketplace.keyed`) over the item id, the SHA-256 of the item's
content and the expiry time, under the key derived for download links alone, so a signature here can never be
replayed as any other value the tool signs with the same secret.

The content hash is not in the URL: verification recomputes it from the item as it is now, so a link to a
note that has since been edited (or a file row pointing at other bytes) stops working, and the URL does not
disclose a hash of the student's file to whoever sees it in a platform's logs.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from marketplace.clock import utc_now
from marketplace.keyed import Purpose, signature_matches
from marketplace.keyed import signature as keyed_signature
from marketplace.store.models import PortfolioItemRow

# Canvas copies a submitted file from the URL with its own servers only after the student presses Submit,
# which may be days after the picker built the item (the page stays open, a draft waits over a weekend). Two
# hours broke such submissions; a week covers them, and the link still dies on its own and with any change of
# the content it was made for.
URL_LIFETIME = timedelta(days=7)
# The content hash joined the signed message in version 2. Version-1 links (id and expiry only) fail
# verification, so they are refused as invalid without any migration.
_MAX_EXPIRES_DIGITS = 12  # an int parse of an attacker's 10,000-digit string is wasted work
# Signed over when the item does not exist, so a missing item costs the same work as a wrong signature.
_NO_CONTENT = "0" * 64


class SignatureRefused(Exception):
    """The download URL is not one we signed for this content, or it has expired; `expired` tells which.

    `expires_at` is the expiry the (genuine) URL carried, for the message that says when it stopped working.
    """

    def __init__(self, expired: bool, expires_at: datetime | None = None) -> None:
        super().__init__("expired" if expired else "invalid")
        self.expired = expired
        self.expires_at = expires_at


def content_sha256(item: PortfolioItemRow) -> str:
    """The hash a link to this item is bound to: the stored file's, or that of what a note or link renders.

    Notes and links are hashed from their fields (kind, title, url, note) rather than from the rendered
    bytes, so a deploy that only restyles the rendering does not invalidate the week's outstanding links,
    while any edit a student makes does. JSON keeps the fields unambiguous (no separator can be forged).
    """
    if item.kind == "file":
        return str(item.file_sha256 or "")
    fields = [item.kind, item.title or "", item.url or "", item.note or ""]
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8")).hexdigest()


def _message(item_id: str, content_hash: str, expires: int) -> bytes:
    return f"{item_id}\n{content_hash}\n{expires}".encode()


def signature(item_id: str, content_hash: str, expires: int, secret_key: str) -> str:
    """The hex HS256 signature of one item id, content hash and expiry time."""
    return keyed_signature(_message(item_id, content_hash, expires), secret_key, Purpose.PORTFOLIO_FILE_URL)


def expiry(lifetime: timedelta = URL_LIFETIME, now: datetime | None = None) -> int:
    """The unix time a URL signed now with this lifetime expires."""
    return int(((now or utc_now()) + lifetime).timestamp())


def iso_z(expires: int) -> str:
    """An expiry as ISO 8601 in UTC with a `Z`, as deep-linking `expiresAt` is written."""
    return datetime.fromtimestamp(expires, UTC).isoformat().replace("+00:00", "Z")


def signed_path(item_id: str, content_hash: str, expires: int, secret_key: str) -> str:
    """`/portfolio/files/<id>?expires=…&signature=…` (the content hash is signed, not sent)."""
    query = urlencode({"expires": expires, "signature": signature(item_id, content_hash, expires, secret_key)})
    return f"/portfolio/files/{item_id}?{query}"


def signed_file_url(base_url: str, item: PortfolioItemRow, secret_key: str, lifetime: timedelta = URL_LIFETIME,
                    now: datetime | None = None) -> str:
    """An absolute download URL for an item that works without a session until it expires or the item changes."""
    return base_url.rstrip("/") + signed_path(item.id, content_sha256(item), expiry(lifetime, now), secret_key)


def well_formed(expires: str) -> bool:
    """Whether `expires` can be a signed expiry at all: checked before any database work."""
    return expires.isascii() and expires.isdigit() and len(expires) <= _MAX_EXPIRES_DIGITS


def verify(item_id: str, content_hash: str | None, expires: str, given: str, secret_key: str,
           now: datetime | None = None) -> None:
    """SignatureRefused unless `given` signs this item id, its current content hash and expiry, and the expiry
    is still ahead. `content_hash` None (no such item) is always refused, after the same work."""
    if not well_formed(expires):
        raise SignatureRefused(expired=False)
    matches = signature_matches(_message(item_id, content_hash or _NO_CONTENT, int(expires)), given, secret_key,
                                Purpose.PORTFOLIO_FILE_URL)
    if not matches or not content_hash:
        raise SignatureRefused(expired=False)
    if int(expires) <= int((now or utc_now()).timestamp()):
        raise SignatureRefused(expired=True, expires_at=datetime.fromtimestamp(int(expires), UTC))
