"""Text helpers for templates, written in Python where a template loop was the slow part of a page."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from markupsafe import Markup, escape


def marked(parts: Iterable[Mapping[str, Any]]) -> Markup:
    """A highlighted text (the search's `highlights` parts) as HTML: every part's text escaped, the parts that
    matched the query inside <mark>. A Jinja loop over the parts of every card's title and description took
    about twice as long (1.8 to 2.0 ms against 0.7 to 1.1 ms for 20 cards, measured in one run)."""
    # Plain strings joined, then marked safe once: Markup's own join and format escape item by item through a
    # slower path and were slower than the Jinja loop. Safe because every text passes through escape() here.
    html = "".join([f"<mark>{escape(part['text'])}</mark>" if part["match"] else escape(part["text"])
                    for part in parts])
    return Markup(html)  # noqa: S704 - built only from escaped text and the literal <mark> tags
