"""Catalog search: BM25F ranking by Whoosh, filters and facet counts over numpy masks, one shared searcher.


`CatalogIndex` is opened once per process and shared by every request. It notices a new commit (the
index's STAMP file changes) at most once a second and swaps in a fresh searcher; it is never rebuilt per
request. Whoosh searchers are not safe to use from several threads at once, and searching is CPU-bound
Python under the GIL anyway, so one lock serialises searches without losing throughput.

The search is split by job: `search_types.py` (what is asked and answered), `index_state.py` (one open
generation of the index), `matching.py` (matching at the level that finds enough, and ranking), `facets.py`
(filters and facet counts), `highlight.py` (marked snippets), and this module (the shared, self-refreshing
index; query planning: spelling corrections, help when nothing is found; and the hits of a page).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import orjson

from marketplace.catalog import facets as facet_masks
from marketplace.catalog.analysis import STOP_WORDS, Analyzer, normalise, shared_analyzer
from marketplace.catalog.facets import facet_counts
from marketplace.catalog.highlight import SNIPPET_CHARS, highlight
from marketplace.catalog.index_state import IndexState, load_state, spelling_of, title_order
from marketplace.catalog.index_store import read_stamp
from marketplace.catalog.matching import FEW_RESULTS, QueryRun
from marketplace.catalog.query import Clause, ParsedQuery, parse_query
from marketplace.catalog.schema import STEMMED_FIELDS
from marketplace.catalog.search_types import (
    MAX_RESULT_WINDOW,
    BroaderSearch,
    Mask,
    NoResultsHelp,
    Relaxation,
    SearchHit,
    SearchRequest,
    SearchResult,
)
from marketplace.catalog.spelling import correct_stem
from marketplace.catalog.vocabulary import FACETS
from marketplace.metrics import metrics

REFRESH_INTERVAL_SECONDS = 1.0
# Ranking tiers, added as weights far apart (BM25F sums are clipped below the smallest tier).




class CatalogIndex:
    """The shared, self-refreshing view of the catalog index."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._state: IndexState | None = None
        self._checked_at = 0.0
        self._refreshing = False

    # -- lifecycle -----------------------------------------------------------------------------------
    def open(self) -> None:
        """Open the index now (raises if there is none); later calls to search refresh it as needed."""
        with self._lock:
            self._state = load_state(self.path)
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

    def _current(self) -> IndexState:
        now = time.monotonic()
        if self._state is None:
            self._state = load_state(self.path)
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
        fresh = load_state(self.path)
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
        started = time.perf_counter()
        try:
            parsed = parse_query(request.text, as_you_type=request.as_you_type)
            with self._lock:
                state = self._current()
                return self._search(state, parsed, request)
        finally:
            metrics().search_seconds.observe(time.perf_counter() - started)

    def _search(self, state: IndexState, parsed: ParsedQuery, request: SearchRequest) -> SearchResult:
        run = QueryRun()  # its clause masks are shared by matching and scoring within this search only
        parsed, corrections = self._correct(run, state, parsed)
        filter_masks = facet_masks.filter_masks(state, request)
        match = run.match(state, parsed, filter_masks)
        final = match.text_mask.copy()
        for mask in filter_masks.values():
            final &= mask
        facets = facet_counts(state, match.text_mask, filter_masks)
        total = int(np.count_nonzero(final))
        window_start = (request.page - 1) * request.per_page
        page_docs: list[int]
        scores: list[tuple[float, float] | None]
        if request.counts_only or window_start >= min(total, MAX_RESULT_WINDOW):
            page_docs, scores = [], []
        elif parsed.is_empty or request.sort == "title":
            order = title_order(state)
            ranked = order[final[order]]
            page_docs = ranked[window_start : window_start + request.per_page].tolist()
            scores = [None] * len(page_docs)
        else:
            page_docs, scores = run.ranked(state, parsed, final, match, request)
        hits = [self._hit(state, docnum, score, parsed) for docnum, score in zip(page_docs, scores, strict=True)]
        if corrections:
            suggestion: str | None = _apply_corrections(request.text, corrections)
        else:
            suggestion = self._suggest(state, request.text, parsed) if total < FEW_RESULTS else None
        relaxation = None
        if match.level != "all":
            relaxation = Relaxation(match.level, match.all_words_total)
        help_ = self._help(run, state, parsed, request, filter_masks) if total == 0 else None
        return SearchResult(
            total, request.page, request.per_page, hits, facets, suggestion, relaxation, corrections,
            parsed.ignored, parsed.grades, parsed.types, parsed.subjects, help_,
        )

    # -- matching and relaxing -----------------------------------------------------------------------
    def _correct(self, run: QueryRun, state: IndexState, parsed: ParsedQuery) -> tuple[ParsedQuery, dict[str, str]]:
        """Replace wanted words that no resource holds by their nearest known spelling, if there is one:
        a teacher who types "photosinthesis" wants the photosynthesis resources, not a suggestion alone."""
        corrections: dict[str, str] = {}
        groups: list[tuple[Clause, ...]] = []
        for group in parsed.required:
            fixed: list[Clause] = []
            for clause in group:
                replacement = None
                if clause.kind == "term" and not (clause.types or clause.grades or clause.subjects):
                    if not run.clause_mask(state, clause).any():
                        stem = correct_stem(spelling_of(state), _analyzer(), clause.words[0])
                        better = self._surface_of(state, stem) if stem else None
                        if better and stem:
                            candidate = Clause("term", (better,), (stem,))
                            if run.clause_mask(state, candidate).any():
                                replacement = candidate
                                corrections[clause.words[0]] = better
                fixed.append(replacement or clause)
            groups.append(tuple(fixed))
        if not corrections:
            return parsed, corrections
        return replace(parsed, required=tuple(groups)), corrections








    # -- text matching -------------------------------------------------------------------------------






    # -- when nothing is found ------------------------------------------------------------------------
    def _help(
        self, run: QueryRun, state: IndexState, parsed: ParsedQuery, request: SearchRequest,
        filter_masks: dict[str, Mask],
    ) -> NoResultsHelp:
        """Nearest subjects and wider searches that do find something, and the filters that were set."""
        active = {facet: values for facet, values in request.filters().items() if values}
        broader: list[BroaderSearch] = []
        unfiltered = run.match(state, parsed, {}).text_mask
        if active and unfiltered.any():
            broader.append(BroaderSearch(f"Search all resources for “{request.text.strip()}”", request.text, {},
                                         int(np.count_nonzero(unfiltered))))
        loose = self._loosened_text(parsed)
        if loose and loose != request.text.strip():
            loose_parsed = parse_query(loose)
            loose_mask = run.match(state, loose_parsed, filter_masks).text_mask
            for mask in filter_masks.values():
                loose_mask = loose_mask & mask
            if loose_mask.any():
                broader.append(BroaderSearch(f"Search for “{loose}”", loose, active,
                                             int(np.count_nonzero(loose_mask))))
        scope, subject_text = unfiltered, request.text.strip()
        if not scope.any() and loose:
            scope, subject_text = run.match(state, parse_query(loose), {}).text_mask, loose
        if not scope.any():
            scope, subject_text = state.alive, ""
        codes = state.codes["subject"][scope]
        tallies = np.bincount(codes[codes >= 0], minlength=len(FACETS["subject"]))
        subjects = list(FACETS["subject"])
        nearest = [(subjects[int(number)], int(tallies[number])) for number in np.argsort(-tallies, kind="stable")[:3]
                   if tallies[number] > 0]
        return NoResultsHelp(nearest, broader, active, subject_text, bool(unfiltered.any()))

    @staticmethod
    def _loosened_text(parsed: ParsedQuery) -> str:
        """The query without quotes and exclusions, long words cut to a prefix: what a wider net looks like."""
        words: list[str] = []
        for group in parsed.required:
            for clause in group:
                for word in clause.words:
                    words.append(f"{word[:5]}*" if len(word) > 6 and clause.kind == "term" else word)
        return " ".join(dict.fromkeys(words))

    # -- filters and facets ----------------------------------------------------------------------------


    # -- results -------------------------------------------------------------------------------------

    def warm(self) -> None:
        """Prepare what a first browse or suggestion would otherwise compute in someone's request."""
        with self._lock:
            self._prepare(self._current())

    def _prepare(self, state: IndexState) -> None:
        title_order(state)
        spelling_of(state)

    def _hit(
        self, state: IndexState, docnum: int, scores: tuple[float, float] | None, parsed: ParsedQuery
    ) -> SearchHit:
        stored = state.searcher.stored_fields(docnum)
        stems: set[str] = set()
        prefixes: list[str] = []
        for clause in [*(clause for group in parsed.required for clause in group), *parsed.optional]:
            if clause.kind == "prefix":
                prefixes.append(clause.words[0])
            else:
                stems.update(clause.stems)
        analyzer = _analyzer()
        # A field whose indexed words hold none of the query's stems has nothing to mark for them, and without
        # a prefix its text is not analysed again. Highlighting was a quarter of a search, and in the bench's
        # searches 69% of the hits' descriptions held none of the query's words. The postings say so exactly,
        # unless a stem is spelt like a stop word ("one" stems to "on"): a highlight marks the stop word too,
        # and the index never holds it.
        exact = not stems & STOP_WORDS
        title_stems = stems if not exact or _holds_any(state, "title", docnum, stems) else set()
        description_stems = stems if not exact or _holds_any(state, "description", docnum, stems) else set()
        return SearchHit(
            id=stored["id"],
            title=stored["title_text"],
            description=stored["description_text"],
            subject=stored["subject"],
            type=stored["type"],
            language=stored["language"],
            author=stored["author_text"],
            license_id=stored["license"],
            display=orjson.loads(stored["display"]),
            title_highlight=highlight(stored["title_text"], analyzer, title_stems, prefixes),
            description_highlight=highlight(stored["description_text"], analyzer, description_stems, prefixes,
                                            SNIPPET_CHARS),
            score=scores[0] if scores else None,
            text_score=scores[1] if scores else None,
        )

    def _surface_of(self, state: IndexState, stem: str) -> str | None:
        """A word of the catalog's own text that analyses to `stem` (what a suggestion shows)."""
        cached = state.surfaces.get(stem)
        if cached is not None:
            return cached
        for field_name in STEMMED_FIELDS:
            ids = state.postings.get(state.searcher, field_name, stem)[0]
            if not len(ids):
                continue
            stored = state.searcher.stored_fields(int(ids[0]))
            keywords = " ; ".join(json.loads(stored["display"])["keywords"])
            for text in (stored["title_text"], keywords, stored["description_text"]):
                for token in _analyzer()(text):
                    if token.text == stem:
                        state.surfaces[stem] = normalise(token.surface)
                        return state.surfaces[stem]
        return None

    def _suggest(self, state: IndexState, text: str, parsed: ParsedQuery) -> str | None:
        words = parsed.plain_words()
        if not words:
            return None
        dictionary = spelling_of(state)
        corrections: dict[str, str] = {}
        for word in dict.fromkeys(words):
            stem = correct_stem(dictionary, _analyzer(), word)
            better = self._surface_of(state, stem) if stem else None
            if better and better != word:
                corrections[word] = better
        if not corrections:
            return None
        suggestion = _apply_corrections(text, corrections)
        return suggestion if suggestion != " ".join(text.split()) else None


def _holds_any(state: IndexState, field_name: str, docnum: int, stems: set[str]) -> bool:
    """Whether the document's `field_name` was indexed with one of `stems` (postings are sorted by number)."""
    for stem in stems:
        ids = state.postings.get(state.searcher, field_name, stem)[0]
        position = int(np.searchsorted(ids, docnum))
        if position < len(ids) and ids[position] == docnum:
            return True
    return False


def _analyzer() -> Analyzer:
    return shared_analyzer()


def _apply_corrections(text: str, corrections: dict[str, str]) -> str:
    """The typed text with each corrected word replaced (case-insensitively), spacing normalised."""
    fixed = []
    for token in text.split():
        bare = token.strip(".,;:!?\"'()")
        better = corrections.get(bare.casefold())
        fixed.append(token.replace(bare, better) if better and bare else token)
    return " ".join(fixed)


