"""Catalog search: BM25F ranking by Whoosh, filters and facet counts over numpy masks, one shared searcher.

`CatalogIndex` is opened once per process and shared by every request. It notices a new commit (the
index's STAMP file changes) at most once a second and swaps in a fresh searcher; it is never rebuilt per
request. Whoosh searchers are not safe to use from several threads at once, and searching is CPU-bound
Python under the GIL anyway, so one lock serialises searches without losing throughput.

Facet counts are disjunctive, as a shopper expects: each facet's counts apply every other active filter
but not its own, so picking "Biology" still shows how many "Chemistry" resources there are.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from whoosh.filedb.filestore import FileStorage
from whoosh.util.numeric import byte_to_length

from marketplace.catalog.forward import ForwardIndex, ForwardMismatchError
from marketplace.catalog.highlight import SNIPPET_CHARS, Segment, highlight
from marketplace.catalog.index_store import index_exists, read_stamp
from marketplace.catalog.postings import PostingsCache, length_codes
from marketplace.catalog.query import Clause, ParsedQuery, parse_query
from marketplace.catalog.schema import STEMMED_FIELDS, word_analyzer
from marketplace.catalog.spelling import SpellingDictionary, correct_word
from marketplace.catalog.vocabulary import FACETS, GRADE_LEVELS

SortOrder = Literal["relevance", "title"]
SORT_ORDERS: tuple[SortOrder, ...] = ("relevance", "title")
MAX_PER_PAGE = 100
MAX_RESULT_WINDOW = 10_000
PREFIX_SCORED_EXPANSIONS = 8
LOAD_ATTEMPTS = 20
FEW_RESULTS = 3
REFRESH_INTERVAL_SECONDS = 1.0
CODED_FACETS = {"subject": "subject", "type": "type", "license": "license"}
SCORED_FIELDS = (*STEMMED_FIELDS, "author")
BM25_B = 0.75
BM25_K1 = 1.2
Mask = npt.NDArray[np.bool_]
Scores = npt.NDArray[np.float64]
_BYTE_TO_LENGTH = np.asarray([byte_to_length(value) for value in range(256)], dtype=np.float32)


class IndexMissingError(FileNotFoundError):
    """No index has been built yet at the configured path."""


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """What to search for; values are already validated by the caller."""

    text: str = ""
    subjects: tuple[str, ...] = ()
    grades: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    licenses: tuple[str, ...] = ()
    page: int = 1
    per_page: int = 20
    sort: SortOrder = "relevance"
    as_you_type: bool = False

    def filters(self) -> dict[str, tuple[str, ...]]:
        return {"subject": self.subjects, "grade": self.grades, "type": self.types, "license": self.licenses}


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One result, with what a result card shows."""

    id: str
    title: str
    description: str
    subject: str
    type: str
    language: str
    author: str
    license_id: str
    display: dict[str, Any]
    title_highlight: list[Segment]
    description_highlight: list[Segment]
    score: float | None


@dataclass(frozen=True, slots=True)
class SearchResult:
    """A page of hits, the exact total, facet counts (facet -> value -> count) and a spelling suggestion."""

    total: int
    page: int
    per_page: int
    hits: list[SearchHit]
    facets: dict[str, dict[str, int]]
    suggestion: str | None = None

    @property
    def page_count(self) -> int:
        return max(1, -(-min(self.total, MAX_RESULT_WINDOW) // self.per_page))


@dataclass(slots=True)
class _IndexState:
    """One open generation of the index and everything derived from it."""

    stamp: str | None
    searcher: Any
    size: int
    alive: Mask
    codes: dict[str, npt.NDArray[np.int16]]
    grade_bits: npt.NDArray[np.uint8]
    forward: ForwardIndex | None = None
    spelling: SpellingDictionary | None = None
    lengths: dict[str, npt.NDArray[np.float32]] = field(default_factory=dict)
    average_lengths: dict[str, float] = field(default_factory=dict)
    postings: PostingsCache = field(default_factory=PostingsCache)
    prefixes: OrderedDict[str, list[tuple[str, str]]] = field(default_factory=OrderedDict)
    title_order: npt.NDArray[np.int32] | None = None


class CatalogIndex:
    """The shared, self-refreshing view of the catalog index."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._state: _IndexState | None = None
        self._checked_at = 0.0
        self._refreshing = False
        self._masks: dict[Clause, Mask] = {}

    # -- lifecycle -----------------------------------------------------------------------------------
    def open(self) -> None:
        """Open the index now (raises if there is none); later calls to search refresh it as needed."""
        with self._lock:
            self._state = self._load()
            self._checked_at = time.monotonic()

    def close(self) -> None:
        with self._lock:
            if self._state is not None:
                self._state.searcher.close()
                self._state = None

    @property
    def is_open(self) -> bool:
        return self._state is not None

    def document_count(self) -> int:
        with self._lock:
            state = self._current()
            return int(state.alive.sum())

    def _load(self) -> _IndexState:
        """Open the newest generation; retried while a commit is between its Whoosh and forward files."""
        for attempt in range(LOAD_ATTEMPTS):
            if not index_exists(self.path):
                raise IndexMissingError(f"There is no catalog index at {self.path}; run `marketplace index`.")
            try:
                return self._load_once()
            except ForwardMismatchError:
                if attempt == LOAD_ATTEMPTS - 1:
                    raise
                time.sleep(0.05)
        raise AssertionError("unreachable")

    def _load_once(self) -> _IndexState:
        # Plain reads instead of mmap: the index's pages stay in the OS page cache, shared and reclaimable,
        # rather than counting as this process's resident memory (searches are serialised anyway).
        stamp = read_stamp(self.path)
        ix = FileStorage(str(self.path), supports_mmap=False).open_index()
        searcher = ix.searcher()
        size = searcher.reader().doc_count_all()
        alive = np.zeros(size, dtype=np.bool_)
        alive[np.fromiter(searcher.reader().all_doc_ids(), dtype=np.int64, count=searcher.doc_count())] = True
        state = _IndexState(stamp, searcher, size, alive, {}, np.zeros(size, dtype=np.uint8))
        try:
            state.forward = ForwardIndex.load(self.path, size)
            _check_alignment(searcher, state.forward, alive)
            if read_stamp(self.path) != stamp:
                raise ForwardMismatchError("a commit landed while the index was opening")
        except (ForwardMismatchError, OSError, ValueError):
            searcher.close()
            raise ForwardMismatchError("the index is being written") from None
        for facet, field_name in CODED_FACETS.items():
            codes = np.full(size, -1, dtype=np.int16)
            for ordinal, value in enumerate(FACETS[facet]):
                codes[state.postings.get(searcher, field_name, value)[0]] = ordinal
            state.codes[facet] = codes
        for bit, level in enumerate(GRADE_LEVELS):
            state.grade_bits[state.postings.get(searcher, "grade", level)[0]] |= np.uint8(1 << bit)
        for name in SCORED_FIELDS:
            state.lengths[name] = _field_lengths(searcher, name, size)
            state.average_lengths[name] = searcher.avg_field_length(name) or 1.0
        return state

    def _current(self) -> _IndexState:
        now = time.monotonic()
        if self._state is None:
            self._state = self._load()
            self._checked_at = now
        elif now - self._checked_at >= REFRESH_INTERVAL_SECONDS and not self._refreshing:
            self._checked_at = now
            if read_stamp(self.path) != self._state.stamp:
                # Searches go on against the open generation while the new one loads beside it.
                self._refreshing = True
                threading.Thread(target=self._refresh_in_background, name="catalog-refresh", daemon=True).start()
        return self._state

    def _refresh_in_background(self) -> None:
        try:
            self.refresh()
        finally:
            self._refreshing = False

    def refresh(self) -> bool:
        """Load the newest committed generation now if it differs from the open one; True if it did."""
        stamp = read_stamp(self.path)
        with self._lock:
            if self._state is not None and stamp == self._state.stamp:
                return False
        # Loaded and prepared outside the lock (it is private until swapped in): searches continue.
        fresh = self._load()
        self._prepare(fresh)
        with self._lock:
            previous, self._state = self._state, fresh
            self._checked_at = time.monotonic()
            if previous is not None:
                previous.searcher.close()
        return True

    # -- search --------------------------------------------------------------------------------------
    def search(self, request: SearchRequest) -> SearchResult:
        """Run one search; malformed text never raises (it degrades to plain terms)."""
        parsed = parse_query(request.text, as_you_type=request.as_you_type)
        with self._lock:
            state = self._current()
            return self._search(state, parsed, request)

    def _search(self, state: _IndexState, parsed: ParsedQuery, request: SearchRequest) -> SearchResult:
        self._masks.clear()  # clause masks are shared by matching and scoring within one search only
        text_mask = self._text_mask(state, parsed)
        filter_masks = self._filter_masks(state, request)
        final = text_mask.copy()
        for mask in filter_masks.values():
            final &= mask
        facets = self._facet_counts(state, text_mask, filter_masks)
        total = int(np.count_nonzero(final))
        window_start = (request.page - 1) * request.per_page
        page_docs: list[int]
        scores: list[float | None]
        if window_start >= min(total, MAX_RESULT_WINDOW):
            page_docs, scores = [], []
        elif parsed.is_empty or request.sort == "title":
            order = self._title_order(state)
            ranked = order[final[order]]
            page_docs = ranked[window_start : window_start + request.per_page].tolist()
            scores = [None] * len(page_docs)
        else:
            page_docs, scores = self._ranked(state, parsed, final, filter_masks, request)
        hits = [self._hit(state, docnum, score, parsed) for docnum, score in zip(page_docs, scores, strict=True)]
        suggestion = self._suggest(state, request.text, parsed) if total < FEW_RESULTS else None
        return SearchResult(total, request.page, request.per_page, hits, facets, suggestion)

    def _ranked(
        self, state: _IndexState, parsed: ParsedQuery, final: Mask, filter_masks: dict[str, Mask],
        request: SearchRequest,
    ) -> tuple[list[int], list[float | None]]:
        """Top hits by BM25F (Whoosh's formula and statistics, computed over whole posting arrays).

        Whoosh's collector scores one posting at a time through nested matchers: 100-700 ms for common
        words at 100,000 resources. The same sums over numpy arrays take a few milliseconds; a test checks
        that the scores equal Whoosh's own BM25F scores.
        """
        scores = np.zeros(state.size, dtype=np.float64)
        for group in parsed.required:
            for clause in group:
                self._add_clause_scores(state, clause, scores)
        candidates = np.flatnonzero(final)
        candidate_scores = scores[candidates]
        limit = request.page * request.per_page
        if len(candidates) > limit:
            best = np.argpartition(-candidate_scores, limit - 1)[:limit]
            candidates, candidate_scores = candidates[best], candidate_scores[best]
        order = np.lexsort((candidates, -candidate_scores))
        window = order[(request.page - 1) * request.per_page : limit]
        return candidates[window].tolist(), [float(score) for score in candidate_scores[window]]

    def _add_clause_scores(self, state: _IndexState, clause: Clause, scores: Scores) -> None:
        if clause.kind == "phrase":
            phrase_scores = np.zeros(state.size, dtype=np.float64)
            for word in clause.words:
                self._add_term_scores(state, self._clause_targets(state, Clause("term", (word,))), phrase_scores)
            phrase_scores *= self._clause_mask(state, clause)
            scores += phrase_scores
        else:
            self._add_term_scores(state, self._clause_targets(state, clause), scores)

    def _add_term_scores(self, state: _IndexState, targets: list[tuple[str, str]], scores: Scores) -> None:
        searcher = state.searcher
        document_count = searcher.doc_count_all()
        for field_name, term in targets:
            ids, weights = state.postings.get(searcher, field_name, term)
            if not len(ids):
                continue
            idf = math.log(document_count / (searcher.doc_frequency(field_name, term) + 1)) + 1
            lengths = state.lengths[field_name][ids]
            norm = BM25_K1 * ((1 - BM25_B) + BM25_B * lengths / state.average_lengths[field_name])
            scores[ids] += idf * (weights * (BM25_K1 + 1)) / (weights + norm)

    # -- text matching -------------------------------------------------------------------------------
    def _analyze(self, state: _IndexState, field_name: str, word: str) -> list[str]:
        analyzer = _WORDS if field_name in STEMMED_FIELDS else state.searcher.schema[field_name].analyzer
        return [token.text for token in analyzer(word)]

    def _clause_targets(self, state: _IndexState, clause: Clause) -> list[tuple[str, str]]:
        """(field, indexed term) pairs that a term or prefix clause matches."""
        if clause.kind == "prefix":
            return self._expand_prefix(state, clause.words[0])
        word = clause.words[0]
        targets = [(name, stem) for name in STEMMED_FIELDS for stem in self._analyze(state, name, word)]
        targets += [("author", token) for token in self._analyze(state, "author", word)]
        return targets

    def _expand_prefix(self, state: _IndexState, prefix: str) -> list[tuple[str, str]]:
        """The terms a prefix clause is scored by: the most frequent stems starting with it, and the stem
        of the word as typed so far (a whole word's stem can be shorter than the word). Matching does not
        depend on this list: every word with the prefix matches (see _clause_mask)."""
        cached = state.prefixes.get(prefix)
        if cached is not None:
            state.prefixes.move_to_end(prefix)
            return cached
        forward = state.forward
        assert forward is not None  # noqa: S101 - set by _load
        low, high = forward.prefix_range(prefix)
        frequencies = forward.counts[low:high]
        if len(frequencies) > PREFIX_SCORED_EXPANSIONS:
            chosen = np.argpartition(-frequencies, PREFIX_SCORED_EXPANSIONS - 1)[:PREFIX_SCORED_EXPANSIONS]
        else:
            chosen = np.arange(len(frequencies))
        stems = [forward.vocabulary[low + int(offset)] for offset in chosen]
        expansion = [(name, stem) for stem in stems for name in STEMMED_FIELDS]
        expansion += [
            target for target in self._clause_targets(state, Clause("term", (prefix,))) if target not in expansion
        ]
        state.prefixes[prefix] = expansion
        if len(state.prefixes) > 4096:
            state.prefixes.popitem(last=False)
        return expansion

    def _clause_mask(self, state: _IndexState, clause: Clause) -> Mask:
        cached = self._masks.get(clause)
        if cached is not None:
            return cached
        forward = state.forward
        assert forward is not None  # noqa: S101 - set by _load
        if clause.kind == "phrase":
            stems = [token.text for token in _WORDS(" ".join(clause.words))]
            mask = forward.phrase(stems) if len(stems) > 1 else self._term_mask(state, clause.words[0])
        elif clause.kind == "prefix":
            # Every document with a word starting with the prefix, however many words that is.
            mask = forward.prefix(clause.words[0]) | self._term_mask(state, clause.words[0])
        else:
            mask = self._term_mask(state, clause.words[0])
        self._masks[clause] = mask
        return mask

    def _term_mask(self, state: _IndexState, word: str) -> Mask:
        mask = np.zeros(state.size, dtype=np.bool_)
        for field_name, term in self._clause_targets(state, Clause("term", (word,))):
            mask[state.postings.get(state.searcher, field_name, term)[0]] = True
        return mask

    def _text_mask(self, state: _IndexState, parsed: ParsedQuery) -> Mask:
        mask = state.alive.copy()
        for group in parsed.required:
            group_mask = np.zeros(state.size, dtype=np.bool_)
            for clause in group:
                group_mask |= self._clause_mask(state, clause)
            mask &= group_mask
        for clause in parsed.excluded:
            mask &= ~self._clause_mask(state, clause)
        return mask

    # -- filters and facets ----------------------------------------------------------------------------
    def _filter_masks(self, state: _IndexState, request: SearchRequest) -> dict[str, Mask]:
        masks: dict[str, Mask] = {}
        for facet, selected in request.filters().items():
            if not selected:
                continue
            ordinals = [list(FACETS[facet]).index(value) for value in selected if value in FACETS[facet]]
            if facet == "grade":
                wanted = np.uint8(sum(1 << ordinal for ordinal in ordinals))
                masks[facet] = (state.grade_bits & wanted) != 0
            else:
                masks[facet] = np.isin(state.codes[facet], np.asarray(ordinals, dtype=np.int16))
        return masks

    def _facet_counts(
        self, state: _IndexState, text_mask: Mask, filter_masks: dict[str, Mask]
    ) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        for facet, values in FACETS.items():
            scope = text_mask
            for other, mask in filter_masks.items():
                if other != facet:
                    scope = scope & mask
            if facet == "grade":
                bits = state.grade_bits[scope]
                tallies = [int(np.count_nonzero(bits & np.uint8(1 << bit))) for bit in range(len(values))]
            else:
                codes = state.codes[facet][scope]
                tallies = np.bincount(codes[codes >= 0], minlength=len(values)).tolist()
            counts[facet] = dict(zip(values, tallies, strict=True))
        return counts

    # -- results -------------------------------------------------------------------------------------
    def _title_order(self, state: _IndexState) -> npt.NDArray[np.int32]:
        if state.title_order is None:
            keys = np.asarray(list(state.searcher.reader().column_reader("title_sort")), dtype=object)
            state.title_order = np.argsort(keys.astype(bytes), kind="stable").astype(np.int32)
        return state.title_order

    def _spelling(self, state: _IndexState) -> SpellingDictionary:
        if state.spelling is None:
            forward = state.forward
            assert forward is not None  # noqa: S101 - set by _load
            state.spelling = SpellingDictionary(forward.vocabulary, forward.counts)
        return state.spelling

    def warm(self) -> None:
        """Prepare what a first browse or suggestion would otherwise compute in someone's request."""
        with self._lock:
            self._prepare(self._current())

    def _prepare(self, state: _IndexState) -> None:
        self._title_order(state)
        self._spelling(state)

    def _hit(self, state: _IndexState, docnum: int, score: float | None, parsed: ParsedQuery) -> SearchHit:
        stored = state.searcher.stored_fields(docnum)
        stems: set[str] = set()
        prefixes: list[str] = []
        for group in parsed.required:
            for clause in group:
                if clause.kind == "prefix":
                    prefixes.append(clause.words[0])
                else:
                    stems.update(stem for word in clause.words for stem in self._analyze(state, "title", word))
        analyzer = _WORDS
        return SearchHit(
            id=stored["id"],
            title=stored["title_text"],
            description=stored["description_text"],
            subject=stored["subject"],
            type=stored["type"],
            language=stored["language"],
            author=stored["author"],
            license_id=stored["license"],
            display=json.loads(stored["display"]),
            title_highlight=highlight(stored["title_text"], analyzer, stems, prefixes),
            description_highlight=highlight(stored["description_text"], analyzer, stems, prefixes, SNIPPET_CHARS),
            score=score,
        )

    def _suggest(self, state: _IndexState, text: str, parsed: ParsedQuery) -> str | None:
        words = parsed.plain_words()
        if not words:
            return None
        dictionary = self._spelling(state)
        corrections: dict[str, str] = {}
        for word in dict.fromkeys(words):
            better = correct_word(dictionary, _WORDS, word)
            if better and better != word:
                corrections[word] = better
        if not corrections:
            return None
        tokens = text.split()
        fixed = [corrections.get(token.casefold(), token) for token in tokens]
        suggestion = " ".join(fixed)
        return suggestion if suggestion != " ".join(tokens) else None


def _field_lengths(searcher: Any, field_name: str, size: int) -> npt.NDArray[np.float32]:
    """Every document's (quantised) length in `field_name`, as Whoosh's scorer sees it."""
    parts = [
        _BYTE_TO_LENGTH[length_codes(sub.reader()._perdoc, field_name, sub.reader().doc_count_all())]
        for sub, _offset in searcher.subsearchers or [(searcher, 0)]
    ]
    lengths = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    return lengths[:size]


_WORDS = word_analyzer()



def _check_alignment(searcher: Any, forward: ForwardIndex, alive: Mask) -> None:
    """Spot-check that the forward index's documents are this generation's (same ids at sampled numbers)."""
    living = np.flatnonzero(alive)
    if not len(living):
        return
    for docnum in np.linspace(0, len(living) - 1, num=min(16, len(living)), dtype=np.int64):
        number = int(living[docnum])
        if searcher.stored_fields(number).get("id") != forward.resource_ids[number]:
            raise ForwardMismatchError("the forward index belongs to another generation")
