"""Signed download URLs: valid for a week, bound to the item and its content, not forgeable for another item,
content, expiry or key; and the content items a portfolio item is submitted as."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from marketplace.clock import utc_now
from marketplace.portfolio import rendering, signing
from marketplace.portfolio.content_items import portfolio_content_item, submit_as_for, submit_as_offers
from marketplace.store.models import PortfolioItemRow

SECRET = "s" * 40
BASE = "https://tool.example"
ITEM_ID = "11111111-2222-3333-4444-555555555555"


def file_item(item_id: str = ITEM_ID, sha256: str = "a" * 64) -> PortfolioItemRow:
    return PortfolioItemRow(id=item_id, platform_id=1, owner_sub="student-a", kind="file", title="My essay",
                            file_name="essay.pdf", media_type="application/pdf", file_sha256=sha256, file_size=10)


def note_item(title: str = "Field trip", note: str = "We saw herons.") -> PortfolioItemRow:
    return PortfolioItemRow(id=ITEM_ID, platform_id=1, owner_sub="student-a", kind="note", title=title, note=note)


def link_item(title: str = "My site", url: str = "https://example.org/ada") -> PortfolioItemRow:
    return PortfolioItemRow(id=ITEM_ID, platform_id=1, owner_sub="student-a", kind="link", title=title, url=url)


def parts(url: str) -> tuple[str, str, str]:
    split = urlsplit(url)
    query = parse_qs(split.query)
    assert sorted(query) == ["expires", "signature"]  # the content hash is signed, never sent
    return split.path.rsplit("/", 1)[-1], query["expires"][0], query["signature"][0]


def test_the_lifetime_is_a_week() -> None:
    # Canvas downloads the file only when the student presses Submit, possibly days after the item was built.
    assert signing.URL_LIFETIME == timedelta(days=7)


def test_a_signed_url_verifies_until_it_expires() -> None:
    now = utc_now()
    item = file_item()
    url = signing.signed_file_url(BASE, item, SECRET, now=now)
    assert url.startswith(BASE + f"/portfolio/files/{ITEM_ID}?expires=")
    item_id, expires, signature = parts(url)
    assert int(expires) == int(now.timestamp()) + 7 * 24 * 3600 and len(signature) == 64
    current = signing.content_sha256(item)
    signing.verify(item_id, current, expires, signature, SECRET, now=now + timedelta(days=6, hours=23))
    with pytest.raises(signing.SignatureRefused) as refused:
        signing.verify(item_id, current, expires, signature, SECRET, now=now + timedelta(days=7))
    assert refused.value.expired
    assert refused.value.expires_at == datetime.fromtimestamp(int(expires), UTC)


@pytest.mark.parametrize("change", ["signature", "item", "expires", "key", "content", "missing-item", "empty",
                                    "junk-expires", "huge-expires", "version-1"])
def test_a_changed_url_is_refused_as_invalid(change: str) -> None:
    item = file_item()
    item_id, expires, signature = parts(signing.signed_file_url(BASE, item, SECRET))
    secret: str = SECRET
    current: str | None = signing.content_sha256(item)
    if change == "signature":
        signature = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    elif change == "item":
        item_id = "99999999-2222-3333-4444-555555555555"
    elif change == "expires":
        expires = str(int(expires) + 3600)
    elif change == "key":
        secret = "t" * 40
    elif change == "content":
        current = "b" * 64  # the item now holds other bytes
    elif change == "missing-item":
        current = None
    elif change == "empty":
        signature = ""
    elif change == "junk-expires":
        expires = expires + "abc"
    elif change == "huge-expires":
        expires = "9" * 40
    else:
        # A URL as the 2-hour signer made it (item id and expiry only): refused, no migration.
        old_key = hmac.new(SECRET.encode(), b"lti-marketplace/portfolio-file-url/v1", hashlib.sha256).digest()
        signature = hmac.new(old_key, f"{item_id}\n{expires}".encode(), hashlib.sha256).hexdigest()
    with pytest.raises(signing.SignatureRefused) as refused:
        signing.verify(item_id, current, expires, signature, secret)
    assert not refused.value.expired


def test_an_expired_link_to_changed_content_is_invalid_not_expired() -> None:
    now = utc_now()
    _, expires, signature = parts(signing.signed_file_url(BASE, note_item(), SECRET, now=now - timedelta(days=8)))
    edited = signing.content_sha256(note_item(note="We saw herons and a kingfisher."))
    with pytest.raises(signing.SignatureRefused) as refused:
        signing.verify(ITEM_ID, edited, expires, signature, SECRET, now=now)
    assert not refused.value.expired


def test_the_key_is_derived_for_this_purpose_only() -> None:
    # The same secret signs launch tokens (HS256); a URL signature must not equal a plain HMAC with it.
    plain = hmac.new(SECRET.encode(), b"x\n" + b"a" * 64 + b"\n1", hashlib.sha256).hexdigest()
    assert signing.signature("x", "a" * 64, 1, SECRET) != plain


def test_the_content_hash_follows_every_field_a_rendering_shows() -> None:
    assert signing.content_sha256(file_item(sha256="c" * 64)) == "c" * 64
    note = signing.content_sha256(note_item())
    assert len(note) == 64 and note == signing.content_sha256(note_item())
    assert len({note, signing.content_sha256(note_item(note="We saw herons!")),
                signing.content_sha256(note_item(title="Field trip 2")),
                signing.content_sha256(link_item()), signing.content_sha256(link_item(url="https://example.org/b")),
                signing.content_sha256(link_item(title="Other"))}) == 6
    # No separator games: moving text between fields changes the hash.
    assert signing.content_sha256(note_item("a", "b\nc")) != signing.content_sha256(note_item("a\nb", "c"))


def expected_expiry(now: datetime) -> str:
    return datetime.fromtimestamp(int((now + timedelta(days=7)).timestamp()), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_content_item_for_a_file_is_a_signed_file_item() -> None:
    now = utc_now()
    item = portfolio_content_item(file_item(), BASE + "/", SECRET, now=now, submit_as="link")  # files stay files
    url = item.pop("url")
    assert item == {"type": "file", "title": "essay.pdf", "text": "essay.pdf", "mediaType": "application/pdf",
                    "expiresAt": expected_expiry(now)}
    item_id, expires, signature = parts(url)
    assert url.startswith(BASE + "/portfolio/files/")
    assert datetime.fromtimestamp(int(expires), UTC).strftime("%Y-%m-%dT%H:%M:%SZ") == item["expiresAt"]
    signing.verify(item_id, "a" * 64, expires, signature, SECRET, now=now + timedelta(days=6))


@pytest.mark.parametrize(("row", "name"), [(note_item(), "Field trip.html"), (link_item(), "My site.html")])
def test_content_item_for_a_note_or_link_as_a_file(row: PortfolioItemRow, name: str) -> None:
    now = utc_now()
    item = portfolio_content_item(row, BASE, SECRET, now=now, submit_as="file")
    url = item.pop("url")
    assert item == {"type": "file", "title": name, "text": name, "mediaType": "text/html",
                    "expiresAt": expected_expiry(now)}
    item_id, expires, signature = parts(url)
    signing.verify(item_id, signing.content_sha256(row), expires, signature, SECRET, now=now + timedelta(days=6))


@pytest.mark.parametrize("kind", ["link", "note"])
def test_content_item_for_links_and_notes_is_a_resource_link(kind: str) -> None:
    row = PortfolioItemRow(id="abc", platform_id=1, owner_sub="s", kind=kind, title="Field trip",
                           url="https://example.org" if kind == "link" else None,
                           note="text" if kind == "note" else None)
    assert portfolio_content_item(row, BASE, SECRET) == {
        "type": "ltiResourceLink", "url": BASE + "/lti/launch", "title": "Field trip",
        "custom": {"portfolio_item_id": "abc"},
    }


@pytest.mark.parametrize(("title", "name"), [
    ("Field trip", "Field trip.html"),
    ("../../etc/passwd", "etc_passwd.html"),
    ("a/b\\c", "a_b_c.html"),
    ("Résumé\u202e\x00 notes", "Résumé_ notes.html"),
    ("<script>alert(1)</script>", "script_alert(1)_script.html"),
    ("...", "note.html"),
    ("Version 1.2", "Version 1.2.html"),
    ("x" * 200, "x" * rendering.MAX_NAME_STEM + ".html"),
])
def test_rendered_file_names_are_safe(title: str, name: str) -> None:
    assert rendering.file_name(note_item(title=title)) == name


def test_a_note_renders_as_a_self_contained_escaped_page() -> None:
    page = rendering.render(note_item('Plants <b>& "light"</b>', "First <script>alert(1)</script>\nline two\n\n"
                                      "Second paragraph: café ☕")).decode("utf-8")
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page
    assert "<title>Plants &lt;b&gt;&amp; &quot;light&quot;&lt;/b&gt;</title>" in page
    assert "<p>First &lt;script&gt;alert(1)&lt;/script&gt;<br>\nline two</p>\n<p>Second paragraph: café ☕</p>" in page
    assert "<script" not in page and "src=" not in page and "http" not in page.replace('http-equiv', '')
    assert "default-src 'none'" in page and "@media print" in page


def test_a_link_renders_as_a_page_with_a_clickable_link() -> None:
    page = rendering.render(link_item("My <site>", 'https://example.org/?a=1&b="2"')).decode("utf-8")
    href = "https://example.org/?a=1&amp;b=&quot;2&quot;"
    assert f'<a href="{href}" rel="noopener noreferrer">My &lt;site&gt;</a>' in page
    assert "<script" not in page
    unsafe = rendering.render(link_item("Bad", "javascript:alert(1)")).decode("utf-8")
    assert "<a " not in unsafe and "javascript:alert(1)" in unsafe  # shown as text, never a link


@pytest.mark.parametrize(("name", "header"), [
    ("chart.png", 'attachment; filename="chart.png"'),
    ("Résumé notes.html", "attachment; filename=\"Resume notes.html\"; filename*=UTF-8''R%C3%A9sum%C3%A9%20notes.html"),
    ("日本語.html", "attachment; filename=\"download.html\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E.html"),
])
def test_content_disposition(name: str, header: str) -> None:
    assert rendering.content_disposition(name) == header


@pytest.mark.parametrize(("accept_types", "media", "offers"), [
    (("file", "ltiResourceLink"), ("*/*",), ("file", "link")),  # Canvas homework_submission
    (("file",), (), ("file",)),
    (("ltiResourceLink",), (), ("link",)),
    (("file", "ltiResourceLink"), ("image/*",), ("link",)),  # a rendered page is text/html
    (("html",), (), ()),
])
def test_what_a_note_can_be_submitted_as(accept_types: tuple[str, ...], media: tuple[str, ...],
                                         offers: tuple[str, ...]) -> None:
    assert submit_as_offers(accept_types, media) == offers


def test_without_a_choice_a_note_goes_as_a_link_where_links_are_taken() -> None:
    both = ("file", "ltiResourceLink")
    assert submit_as_for(note_item(), "", both) == "link"  # what a form without the choice always sent
    assert submit_as_for(note_item(), "", ("file",)) == "file"
    assert submit_as_for(note_item(), "file", both) == "file"
    assert submit_as_for(file_item(), "link", both) == "file"

