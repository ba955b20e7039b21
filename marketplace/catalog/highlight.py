"""Highlighted snippets as (text, matched) segments, so templates escape them and no HTML is built here."""

from __future__ import annotations

from collections.abc import Collection

from marketplace.catalog.analysis import Analyzer

SNIPPET_CHARS = 220

Segment = tuple[str, bool]


def highlight(text: str, analyzer: Analyzer, stems: Collection[str], prefixes: Collection[str] = (),
              max_chars: int | None = None) -> list[Segment]:
    """Split `text` into segments, marking tokens whose analysed form matches the query.

    With `max_chars`, the window is the stretch around the first match (or the start when none matches).
    """
    matches: list[tuple[int, int]] = []
    if stems or prefixes:
        starts = tuple(prefixes)
        for form, token_start, token_end in analyzer.spans(text):
            if form in stems or (starts and form.startswith(starts)):
                matches.append((token_start, token_end))
    start, end = 0, len(text)
    if max_chars is not None and len(text) > max_chars:
        first = matches[0][0] if matches else 0
        start = max(0, first - max_chars // 4)
        while start > 0 and not text[start - 1].isspace():
            start -= 1
        end = min(len(text), start + max_chars)
        while end < len(text) and not text[end].isspace():
            end += 1
    segments: list[Segment] = []
    position = start
    for match_start, match_end in matches:
        if match_start < position or match_end > end:
            continue
        if match_start > position:
            segments.append((text[position:match_start], False))
        segments.append((text[match_start:match_end], True))
        position = match_end
    if position < end:
        segments.append((text[position:end], False))
    if start > 0:
        segments.insert(0, ("… ", False))
    if end < len(text):
        segments.append((" …", False))
    return segments
