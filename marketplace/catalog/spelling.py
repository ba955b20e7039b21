"""'Did you mean' suggestions from the index's own vocabulary.

Whoosh's reader finds words within an edit distance with a DFA walk over the sorted term list; the text
fields hold stems, so a suggestion is mapped back to a readable word by keeping the user's own ending.
"""

from __future__ import annotations

from typing import Any

SPELLING_FIELDS = ("title", "keywords", "description")
KNOWN_WORD_MIN_DOCS = 1


def _document_frequency(reader: Any, word: str) -> int:
    return sum(reader.doc_frequency(field, word) for field in SPELLING_FIELDS)


def correct_word(reader: Any, analyzer: Any, word: str) -> str | None:
    """A better-known spelling of `word`, or None when it is fine or nothing close exists."""
    stems = [token.text for token in analyzer(word)]
    if len(stems) != 1 or len(word) < 3 or word.isdigit():
        return None
    stem = stems[0]
    if _document_frequency(reader, stem) >= KNOWN_WORD_MIN_DOCS:
        return None
    max_distance = 1 if len(stem) <= 4 else 2
    best: tuple[int, int, str] | None = None
    for field in SPELLING_FIELDS:
        for candidate in reader.terms_within(field, stem, max_distance, prefix=1):
            frequency = _document_frequency(reader, candidate)
            distance = _edit_distance(candidate, stem)
            key = (distance, -frequency, candidate)
            if best is None or key < best:
                best = key
    if best is None:
        return None
    candidate = best[2]
    # Put back the part of the word that stemming cut off ("photosinthesis" -> stem + "s").
    ending = word[len(stem):] if word.startswith(stem) else ""
    return candidate + ending


def _edit_distance(first: str, second: str) -> int:
    previous = list(range(len(second) + 1))
    for row, char_a in enumerate(first, start=1):
        current = [row]
        for column, char_b in enumerate(second, start=1):
            current.append(min(previous[column] + 1, current[column - 1] + 1,
                               previous[column - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]
