"""Notes and links as files: a self-contained HTML page a file-upload assignment can take, and its file name.

Canvas's homework_submission placement exists only on "Online File Upload" assignments, so a note or a link
sent as an `ltiResourceLink` cannot be handed in there. Rendered as a small web page it can: the page holds
the title and the text (or the link), escaped, with an inline print-friendly style and nothing else, no
scripts, no external resources, so it reads the same on the grader's computer years later, offline.

The bytes depend only on the fields `signing.content_sha256` hashes, so a signed link serves exactly what was
signed.
"""

from __future__ import annotations

import re
import unicodedata
from html import escape
from urllib.parse import quote, urlsplit

from marketplace.store.models import PortfolioItemRow

MEDIA_TYPE = "text/html"
EXTENSION = "html"
MAX_NAME_STEM = 100  # characters; Canvas, zip exports and Windows paths all cope with that
# The page's own policy too, for when it is opened from the platform or a disk rather than from our headers.
PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'"
STYLE = (
    "body{font:1rem/1.55 Georgia,'Times New Roman',serif;color:#111;background:#fff;max-width:40em;"
    "margin:2rem auto;padding:0 1rem}h1{font-size:1.6rem;line-height:1.25;margin:0 0 1rem}"
    "p{margin:0 0 .9rem;overflow-wrap:anywhere}a{color:#0645ad}.meta{color:#555;font-size:.85rem;"
    "border-top:1px solid #ccc;padding-top:.5rem;margin-top:2rem}"
    "@media print{body{margin:0;max-width:none}a{color:#000}.meta{display:none}}"
)
# RFC 5987 attr-char minus the letters and digits `quote` always keeps.
_ATTR_CHAR_EXTRA = "!#$&+-.^_`|~"


def file_name(item: PortfolioItemRow) -> str:
    """`<title>.html`, safe as a file name anywhere: no folders, control, format or markup characters, bounded.

    Canvas names the submitted file after the item's `text`, and checks an assignment's allowed extensions
    against url, title and text, so the name has to end in `.html`.
    """
    name = unicodedata.normalize("NFC", item.title or "")
    name = "".join(char if char.isalnum() or char in " ._-()" else "_" for char in name)
    name = re.sub(r"\s+", " ", re.sub(r"_+", "_", name)).strip(" ._")
    # Leading dots would hide the file on the grader's computer; trailing ones confuse Windows.
    stem = name[:MAX_NAME_STEM].rstrip(" ._") or str(item.kind or "item")
    return f"{stem}.{EXTENSION}"


def _paragraphs(text: str) -> str:
    """Blank lines separate paragraphs; single newlines stay line breaks. Everything escaped."""
    blocks = [block.strip("\n") for block in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n"))]
    return "\n".join("<p>" + "<br>\n".join(escape(line) for line in block.split("\n")) + "</p>"
                     for block in blocks if block.strip())


def _safe_href(url: str) -> str | None:
    """The URL when it is an absolute http(s) one (the store only keeps those; this checks again)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in {"http", "https"} and parts.hostname else None


def render(item: PortfolioItemRow) -> bytes:
    """The UTF-8 HTML page a note or link item is submitted as."""
    title = escape(item.title or "")
    if item.kind == "link":
        url = item.url or ""
        href = _safe_href(url)
        shown = escape(url)
        body = (f'<p><a href="{escape(href)}" rel="noopener noreferrer">{title}</a></p>\n<p>{shown}</p>'
                if href else f"<p>{shown}</p>")
        if item.note:
            body += "\n" + _paragraphs(item.note)
    else:
        body = _paragraphs(item.note or "")
    # No lang attribute: the student's language is not known here, and a wrong one misleads screen readers more
    # than none does.
    page = (
        "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{PAGE_POLICY}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n<h1>{title}</h1>\n{body}\n"
        '<p class="meta">Submitted from a portfolio in LTI Marketplace.</p>\n</main>\n</body>\n</html>\n'
    )
    return page.encode("utf-8")


def content_disposition(name: str) -> str:
    """`attachment` with the file name (RFC 6266): a quoted ASCII `filename`, plus `filename*` when it is not ASCII.

    Old clients read `filename` only, so it gets an ASCII rendering of the name (accents dropped); current ones
    prefer the exact UTF-8 name in `filename*`.
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    ascii_name = "".join(char if char.isprintable() and char not in '"\\;' else "_" for char in ascii_name)
    stem, dot, extension = ascii_name.rpartition(".")
    if not dot:
        stem, extension = ascii_name, ""
    stem = re.sub(r"_+", "_", stem).strip(" ._") or "download"
    fallback = f"{stem}.{extension}" if extension else stem
    if fallback == name:
        return f'attachment; filename="{name}"'
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe=_ATTR_CHAR_EXTRA)}"
