"""The one text analysis that indexed text and query words both go through.

Hand-written on top of Whoosh's Porter stemmer rather than composed from Whoosh's filter chain because the
chain cannot keep the tokens teachers search by: its tokenizer splits "C++" and "C#" to "c", drops every
token shorter than two characters ("World War I", "Vitamin C", "k-2"), keeps accents ("Écosystème" and
"ecosysteme" never meet) and uses a stop list with "us", "may" and "can" in it. One pass with one cache
per distinct word is also faster than five generator stages, which matters for a 100,000-resource build.

Steps, in order: tokenise (words, decimals and codes such as "12.001", "C++", "U.S."), case-fold, fold
accents, drop apostrophes (possessive "'s" first), drop stop words, stem alphabetic words. Tokens with
digits or symbols are kept as they are ("h2o", "12.001", "c++"): stemming them would only damage them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from whoosh.lang.porter import stem as porter_stem

# Bump when anything below changes what a text analyses to: an index built with another version is rebuilt.
ANALYSIS_VERSION = "2"

# The classic Lucene/Snowball core list plus a few function words; not "us" (the country), "may" (the month),
# "can" (Canada, tin cans), "i" (World War I) or "no"/"not" (chemistry's NO, "not" gates in logic).
STOP_WORDS = frozenset(
    """a an and are as at be been but by for from had has have if in into is it its of on or such that the
    their then there these they this those to was were will with""".split()
)

_TOKEN = re.compile(
    r"""
    (?:[^\W\d_]\.){2,}(?![^\W\d_])      # initialisms with dots: U.S., e.g. (read as "us", "eg")
  | \w+(?:\+\+|\#)(?![\w+#])            # C++, C#, F#
  | \d+(?:[.,]\d+)+                     # decimals and codes: 12.001, 3.14, 1,000
  | \w+(?:['’]\w+)*                     # words, with inner apostrophes: newton's, don't
    """,
    re.VERBOSE | re.UNICODE,
)
_APOSTROPHES = str.maketrans("", "", "'’")


@dataclass(frozen=True, slots=True)
class AnalyzedToken:
    """One surviving token: its indexed form and where it came from in the text."""

    text: str
    startchar: int
    endchar: int
    surface: str


def fold(word: str) -> str:
    """Case-fold and strip accents (é -> e, ß -> ss); other scripts are kept as they are."""
    word = word.casefold()
    if word.isascii():
        return word
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def normalise(surface: str) -> str:
    """The folded form of one token before stop words and stemming (possessives and apostrophes removed)."""
    word = fold(surface)
    if word.endswith(("'s", "’s")):
        word = word[:-2]
    if "." in word and not any(char.isdigit() for char in word):
        word = word.replace(".", "")  # U.S. -> us; 12.001 keeps its point
    return word.translate(_APOSTROPHES) if ("'" in word or "’" in word) else word


def _stem(word: str) -> str:
    # Only purely alphabetic words are stemmed: "h2o", "12.001", "c++" and "3d" stay whole.
    return porter_stem(word) if word.isalpha() and word.isascii() else word


class Analyzer:
    """Callable like a Whoosh analyzer (tokens with `.text`, `.startchar`, `.endchar`) with a fast path for
    indexing (`stems`). One instance per process is enough: its cache only grows with distinct words."""

    def __init__(self, cache_limit: int = 500_000) -> None:
        self._cache: dict[str, str | None] = {}
        self._shown: dict[str, str] = {}  # surface -> its form for highlighting (stop words kept)
        self._cache_limit = cache_limit

    def analyse_word(self, surface: str) -> str | None:
        """The indexed form of one token as it appears in text, or None for a stop word or nothing."""
        cached = self._cache.get(surface, "")
        if cached != "":
            return cached
        word = normalise(surface)
        result = None if not word or word in STOP_WORDS else _stem(word)
        if len(self._cache) < self._cache_limit:
            self._cache[surface] = result
        return result

    def is_stop_word(self, surface: str) -> bool:
        return normalise(surface) in STOP_WORDS

    def stems(self, text: str) -> list[str]:
        """The indexed forms of a text, in order, stop words dropped."""
        analysed = (self.analyse_word(match.group(0)) for match in _TOKEN.finditer(text))
        return [stem for stem in analysed if stem]

    def surfaces(self, text: str) -> list[str]:
        """The raw tokens of a text (what a query parser splits words by)."""
        return _TOKEN.findall(text)

    def spans(self, text: str) -> list[tuple[str, int, int]]:
        """(form, start, end) of every token of `text`, stop words included in their folded form: what a
        highlight compares with the query. The same forms as `self(text, removestops=False)`, as plain
        tuples from a per-word cache: highlighting twenty hits per search made a token object per word and
        folded every stop word again, a quarter of a search's time."""
        shown = self._shown
        spans: list[tuple[str, int, int]] = []
        for match in _TOKEN.finditer(text):
            surface = match.group(0)
            form = shown.get(surface)
            if form is None:
                form = self.analyse_word(surface) or normalise(surface)
                if len(shown) < self._cache_limit:
                    shown[surface] = form
            if form:
                spans.append((form, match.start(), match.end()))
        return spans

    def __call__(self, text: str, *, removestops: bool = True, **_ignored: object) -> Iterator[AnalyzedToken]:
        for match in _TOKEN.finditer(text):
            surface = match.group(0)
            analysed = self.analyse_word(surface)
            if analysed is None and not removestops:
                analysed = normalise(surface)
            if analysed:
                yield AnalyzedToken(analysed, match.start(), match.end(), surface)


_SHARED: Analyzer | None = None


def shared_analyzer() -> Analyzer:
    """The process-wide analyzer (created on first use, not at import)."""
    global _SHARED  # noqa: PLW0603 - a lazily created cache, not configuration
    if _SHARED is None:
        _SHARED = Analyzer()
    return _SHARED
