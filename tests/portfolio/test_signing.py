"""Signed download URLs: valid until they expire, and not forgeable for another item, expiry or key."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from marketplace.portfolio import signing
from marketplace.portfolio.content_items import portfolio_content_item
from marketplace.store.models import PortfolioItemRow, utc_now

SECRET = "s" * 40
BASE = "https://tool.example"


def file_item(item_id: str = "11111111-2222-3333-4444-555555555555") -> PortfolioItemRow:
    return PortfolioItemRow(id=item_id, platform_id=1, owner_sub="student-a", kind="file", title="My essay",
                            file_name="essay.pdf", media_type="application/pdf", file_sha256="a" * 64, file_size=10)


def parts(url: str) -> tuple[str, str, str]:
    split = urlsplit(url)
    query = parse_qs(split.query)
    return split.path.rsplit("/", 1)[-1], query["expires"][0], query["signature"][0]


def test_a_signed_url_verifies_until_it_expires() -> None:
    now = utc_now()
    url = signing.signed_file_url(BASE, file_item(), SECRET, timedelta(hours=2), now=now)
    assert url.startswith(BASE + "/portfolio/files/11111111-2222-3333-4444-555555555555?expires=")
    item_id, expires, signature = parts(url)
    assert int(expires) == int(now.timestamp()) + 7200 and len(signature) == 64
    signing.verify(item_id, expires, signature, SECRET, now=now + timedelta(hours=1, minutes=59))
    with pytest.raises(signing.SignatureRefused) as refused:
        signing.verify(item_id, expires, signature, SECRET, now=now + timedelta(hours=2))
    assert refused.value.expired


def test_the_default_lifetime_is_at_least_an_hour() -> None:
    assert signing.URL_LIFETIME >= timedelta(hours=1)


@pytest.mark.parametrize("change", ["signature", "item", "expires", "key", "empty", "junk-expires", "huge-expires"])
def test_a_changed_url_is_refused_as_invalid(change: str) -> None:
    item_id, expires, signature = parts(signing.signed_file_url(BASE, file_item(), SECRET))
    secret = SECRET
    if change == "signature":
        signature = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    elif change == "item":
        item_id = "99999999-2222-3333-4444-555555555555"
    elif change == "expires":
        expires = str(int(expires) + 3600)
    elif change == "key":
        secret = "t" * 40
    elif change == "empty":
        signature = ""
    elif change == "junk-expires":
        expires = expires + "abc"
    else:
        expires = "9" * 40
    with pytest.raises(signing.SignatureRefused) as refused:
        signing.verify(item_id, expires, signature, secret)
    assert not refused.value.expired


def test_the_key_is_derived_for_this_purpose_only() -> None:
    # The same secret signs launch tokens (HS256); a URL signature must not equal a plain HMAC with it.
    plain = hmac.new(SECRET.encode(), b"x\n1", hashlib.sha256).hexdigest()
    assert signing.signature("x", 1, SECRET) != plain


def test_content_item_for_a_file_is_a_signed_file_item() -> None:
    now = utc_now()
    item = portfolio_content_item(file_item(), BASE + "/", SECRET, now=now)
    assert item["type"] == "file" and item["title"] == item["text"] == "essay.pdf"
    assert item["mediaType"] == "application/pdf" and item["expiresAt"].endswith("Z")
    item_id, expires, signature = parts(item["url"])
    assert item["url"].startswith(BASE + "/portfolio/files/")
    signing.verify(item_id, expires, signature, SECRET, now=now + timedelta(hours=1))
    assert "custom" not in item


@pytest.mark.parametrize("kind", ["link", "note"])
def test_content_item_for_links_and_notes_is_a_resource_link(kind: str) -> None:
    row = PortfolioItemRow(id="abc", platform_id=1, owner_sub="s", kind=kind, title="Field trip",
                           url="https://example.org" if kind == "link" else None,
                           note="text" if kind == "note" else None)
    assert portfolio_content_item(row, BASE, SECRET) == {
        "type": "ltiResourceLink", "url": BASE + "/lti/launch", "title": "Field trip",
        "custom": {"portfolio_item_id": "abc"},
    }
