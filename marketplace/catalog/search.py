"""Catalog search: BM25F ranking by Whoosh, filters and facet counts over numpy masks, one shared searcher.

`CatalogIndex` is opened once per process and shared by every request. It notices a new commit (the
index's STAMP file changes) at most once a second and swaps in a fresh searcher; it is never rebuilt per
request. Whoosh searchers are not safe to use from several threads at once, and searching is CPU-bound
Python under the GIL anyway, so one lock serialises searches without losing throughput.

The search is split by job: `search_types.py` (what is asked and answered), `index_state.py` (one open
generation of the index), `facets.py` (filters and facet counts), `highlight.py` (marked snippets), and
this module (the shared index, matching at the loosest level that finds enough, and ranking).
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from marketplace.catalog import facets as facet_masks
from marketplace.catalog.analysis import Analyzer, normalise, shared_analyzer
from marketplace.catalog.facets import code_mask, facet_counts, grade_mask
from marketplace.catalog.highlight import SNIPPET_CHARS, highlight
from marketplace.catalog.index_state import SCORED_FIELDS, IndexState, load_state, spelling_of, title_order
from marketplace.catalog.index_store import read_stamp
from marketplace.catalog.query import Clause, ParsedQuery, parse_query
from marketplace.catalog.schema import STEMMED_FIELDS
from marketplace.catalog.search_types import (
    MAX_RESULT_WINDOW,
    BroaderSearch,
    Mask,
    MatchLevel,
    NoResultsHelp,
    Relaxation,
    Scores,
    SearchHit,
    SearchRequest,
    SearchResult,
)
from marketplace.catalog.spelling import correct_stem
from marketplace.catalog.vocabulary import FACETS

PREFIX_SCORED_EXPANSIONS = 8
FEW_RESULTS = 3
REFRESH_INTERVAL_SECONDS = 1.0
# Ranking tiers, added as weights far apart (BM25F sums are clipped below the smallest tier).
TIER_TITLE_WORDS = 1e3
TIER_STEER = 2e3  # up to three hints (grade, subject, type): 3 * 2e3 + 2e3 stays below the next tier
TIER_TITLE_PHRASE = 1e4
TIER_EXACT_TITLE = 2e4
TIER_MATCHED_WORDS = 1e5
BM25_B = 0.75
BM25_K1 = 1.2


@dataclass(slots=True)
class _Match:
    """What the text of a query matches, at the level the search settled on."""

    text_mask: Mask
    level: MatchLevel
    matched_groups: npt.NDArray[np.int8] | None
    all_words_total: int


class CatalogIndex:
    """The shared, self-refreshing view of the catalog index."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._state: IndexState | None = None
        self._checked_at = 0.0
        self._refreshing = False
        self._masks: dict[Clause, Mask] = {}

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
        parsed = parse_query(request.text, as_you_type=request.as_you_type)
        with self._lock:
            state = self._current()
            return self._search(state, parsed, request)

    def _search(self, state: IndexState, parsed: ParsedQuery, request: SearchRequest) -> SearchResult:
        self._masks.clear()  # clause masks are shared by matching and scoring within one search only
        parsed, corrections = self._correct(state, parsed)
        filter_masks = facet_masks.filter_masks(state, request)
        match = self._match(state, parsed, filter_masks)
        final = match.text_mask.copy()
        for mask in filter_masks.values():
            final &= mask
        facets = facet_counts(state, match.text_mask, filter_masks)
        total = int(np.count_nonzero(final))
        window_start = (request.page - 1) * request.per_page
        page_docs: list[int]
        scores: list[tuple[float, float] | None]
        if window_start >= min(total, MAX_RESULT_WINDOW):
            page_docs, scores = [], []
        elif parsed.is_empty or request.sort == "title":
            order = title_order(state)
            ranked = order[final[order]]
            page_docs = ranked[window_start : window_start + request.per_page].tolist()
            scores = [None] * len(page_docs)
        else:
            page_docs, scores = self._ranked(state, parsed, final, match, request)
        hits = [self._hit(state, docnum, score, parsed) for docnum, score in zip(page_docs, scores, strict=True)]
        if corrections:
            suggestion: str | None = _apply_corrections(request.text, corrections)
        else:
            suggestion = self._suggest(state, request.text, parsed) if total < FEW_RESULTS else None
        relaxation = None
        if match.level != "all":
            relaxation = Relaxation(match.level, match.all_words_total)
        help_ = self._help(state, parsed, request, filter_masks) if total == 0 else None
        return SearchResult(
            total, request.page, request.per_page, hits, facets, suggestion, relaxation, corrections,
            parsed.ignored, parsed.grades, parsed.types, parsed.subjects, help_,
        )

    # -- matching and relaxing -----------------------------------------------------------------------
    def _correct(self, state: IndexState, parsed: ParsedQuery) -> tuple[ParsedQuery, dict[str, str]]:
        """Replace wanted words that no resource holds by their nearest known spelling, if there is one:
        a teacher who types "photosinthesis" wants the photosynthesis resources, not a suggestion alone."""
        corrections: dict[str, str] = {}
        groups: list[tuple[Clause, ...]] = []
        for group in parsed.required:
            fixed: list[Clause] = []
            for clause in group:
                replacement = None
                if clause.kind == "term" and not (clause.types or clause.grades or clause.subjects):
                    if not self._clause_mask(state, clause).any():
                        stem = correct_stem(spelling_of(state), _analyzer(), clause.words[0])
                        better = self._surface_of(state, stem) if stem else None
                        if better and stem:
                            candidate = Clause("term", (better,), (stem,))
                            if self._clause_mask(state, candidate).any():
                                replacement = candidate
                                corrections[clause.words[0]] = better
                fixed.append(replacement or clause)
            groups.append(tuple(fixed))
        if not corrections:
            return parsed, corrections
        return replace(parsed, required=tuple(groups)), corrections

    def _match(self, state: IndexState, parsed: ParsedQuery, filter_masks: dict[str, Mask]) -> _Match:
        """All the wanted words first; when that finds fewer than FEW_RESULTS, most of them, then any.

        Phrases and exclusions always hold: a teacher who quotes or excludes means it.
        """
        mandatory = state.alive.copy()
        relaxable: list[Mask] = []
        for group in parsed.required:
            group_mask = np.zeros(state.size, dtype=np.bool_)
            for clause in group:
                group_mask |= self._clause_mask(state, clause)
            if any(clause.kind == "phrase" for clause in group):
                mandatory &= group_mask
            else:
                relaxable.append(group_mask)
        for clause in parsed.excluded:
            mandatory &= ~self._clause_mask(state, clause)
        if not relaxable:
            return _Match(mandatory, "all", None, 0)
        matched = np.zeros(state.size, dtype=np.int8)
        for group_mask in relaxable:
            matched += group_mask
        wanted = len(relaxable)

        def count(mask: Mask) -> int:
            for filter_mask in filter_masks.values():
                mask = mask & filter_mask
            return int(np.count_nonzero(mask))

        best = mandatory & (matched == wanted)
        all_total = count(best)
        level: MatchLevel = "all"
        best_total = all_total
        if all_total < FEW_RESULTS and wanted > 1:
            for name, threshold in (("most", wanted // 2 + 1), ("any", 1)):
                if threshold >= wanted:
                    continue
                candidate = mandatory & (matched >= threshold)
                candidate_total = count(candidate)
                if candidate_total > best_total:
                    best, best_total, level = candidate, candidate_total, name  # type: ignore[assignment]
                if best_total >= FEW_RESULTS:
                    break
        return _Match(best, level, matched, all_total)

    def _ranked(
        self, state: IndexState, parsed: ParsedQuery, final: Mask, match: _Match, request: SearchRequest,
    ) -> tuple[list[int], list[tuple[float, float] | None]]:
        """Top hits: more of the words first, then an exact title, the words as a phrase in the title, the
        audience and type asked for, more words in the title, and last BM25F over every field.

        BM25F uses Whoosh's formula and statistics over whole posting arrays (Whoosh's collector scores one
        posting at a time: 100-700 ms for common words at 100,000 resources; these sums take a few
        milliseconds, and a test checks that they equal Whoosh's own scores). The tiers are added as
        weights far apart, so one argpartition over one array ranks them all.
        """
        scores = np.zeros(state.size, dtype=np.float64)
        for group in parsed.required:
            for clause in group:
                self._add_clause_scores(state, clause, scores)
        for clause in parsed.optional:
            self._add_clause_scores(state, clause, scores)
        text_scores = scores.copy()
        np.clip(scores, 0.0, TIER_TITLE_WORDS - 1.0, out=scores)
        scores += self._title_tiers(state, parsed)
        scores += TIER_STEER * self._steering(state, parsed)
        if match.level != "all" and match.matched_groups is not None:
            scores += TIER_MATCHED_WORDS * match.matched_groups
        candidates = np.flatnonzero(final)
        candidate_scores = scores[candidates]
        limit = request.page * request.per_page
        if len(candidates) > limit:
            best = np.argpartition(-candidate_scores, limit - 1)[:limit]
            candidates, candidate_scores = candidates[best], candidate_scores[best]
        order = np.lexsort((candidates, -candidate_scores))
        window = order[(request.page - 1) * request.per_page : limit]
        chosen = candidates[window]
        pairs: list[tuple[float, float] | None] = [
            (float(score), float(text_scores[docnum])) for score, docnum in zip(candidate_scores[window], chosen,
                                                                                  strict=True)
        ]
        return chosen.tolist(), pairs

    def _title_tiers(self, state: IndexState, parsed: ParsedQuery) -> Scores:
        """Exact title, the query as a phrase in the title, and the share of wanted words in the title."""
        forward = state.forward
        assert forward is not None  # noqa: S101 - set by _load
        tiers = np.zeros(state.size, dtype=np.float64)
        exact = np.zeros(state.size, dtype=np.bool_)
        phrase = np.zeros(state.size, dtype=np.bool_)
        for sequence in dict.fromkeys((parsed.sequence, parsed.content_stems())):
            if not sequence:
                continue
            is_exact, contains = forward.title_matches(sequence)
            exact |= is_exact
            if len(sequence) > 1:
                phrase |= contains
        tiers += TIER_EXACT_TITLE * exact + TIER_TITLE_PHRASE * phrase
        if parsed.required:
            in_title = np.zeros(state.size, dtype=np.float64)
            for group in parsed.required:
                group_mask = np.zeros(state.size, dtype=np.bool_)
                for clause in group:
                    group_mask |= self._title_mask(state, clause)
                in_title += group_mask
            tiers += TIER_TITLE_WORDS * in_title / len(parsed.required)
        return tiers

    def _title_mask(self, state: IndexState, clause: Clause) -> Mask:
        if clause.kind == "phrase":
            assert state.forward is not None  # noqa: S101 - set by _load
            return state.forward.title_matches(clause.stems)[1]
        mask = np.zeros(state.size, dtype=np.bool_)
        for field_name, term in self._clause_targets(state, clause):
            if field_name == "title":
                mask[state.postings.get(state.searcher, field_name, term)[0]] = True
        return mask

    def _steering(self, state: IndexState, parsed: ParsedQuery) -> Scores:
        """1 for each of the query's audience, subject and type hints that a resource fits."""
        steering = np.zeros(state.size, dtype=np.float64)
        if parsed.subjects:
            steering += code_mask(state, "subject", parsed.subjects)
        if parsed.grades:
            steering += grade_mask(state, parsed.grades)
        if parsed.types:
            steering += code_mask(state, "type", parsed.types)
        return steering

    def _add_clause_scores(self, state: IndexState, clause: Clause, scores: Scores) -> None:
        if clause.kind == "phrase":
            phrase_scores = np.zeros(state.size, dtype=np.float64)
            for stem in clause.stems:
                self._add_term_scores(state, self._stem_targets(stem), phrase_scores)
            phrase_scores *= self._clause_mask(state, clause)
            scores += phrase_scores
        elif clause.kind == "audience":
            for stem in clause.stems:
                self._add_term_scores(state, self._stem_targets(stem), scores)
        else:
            self._add_term_scores(state, self._clause_targets(state, clause), scores)

    def _add_term_scores(self, state: IndexState, targets: list[tuple[str, str]], scores: Scores) -> None:
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
    @staticmethod
    def _stem_targets(stem: str) -> list[tuple[str, str]]:
        return [(name, stem) for name in SCORED_FIELDS]

    def _clause_targets(self, state: IndexState, clause: Clause) -> list[tuple[str, str]]:
        """(field, indexed term) pairs that a term or prefix clause matches."""
        if clause.kind == "prefix":
            return self._expand_prefix(state, clause.words[0])
        return [target for stem in clause.stems for target in self._stem_targets(stem)]

    def _expand_prefix(self, state: IndexState, prefix: str) -> list[tuple[str, str]]:
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
        expansion = [(name, stem) for stem in stems for name in SCORED_FIELDS]
        typed_stem = _analyzer().analyse_word(prefix)
        if typed_stem:
            expansion += [target for target in self._stem_targets(typed_stem) if target not in expansion]
        state.prefixes[prefix] = expansion
        if len(state.prefixes) > 4096:
            state.prefixes.popitem(last=False)
        return expansion

    def _clause_mask(self, state: IndexState, clause: Clause) -> Mask:
        cached = self._masks.get(clause)
        if cached is not None:
            return cached
        forward = state.forward
        assert forward is not None  # noqa: S101 - set by _load
        if clause.kind == "phrase":
            mask = forward.phrase(clause.stems) if len(clause.stems) > 1 else self._stems_mask(state, clause.stems)
        elif clause.kind == "prefix":
            # Every document with a word starting with the prefix, however many words that is.
            typed_stem = _analyzer().analyse_word(clause.words[0])
            mask = forward.prefix(clause.words[0]) | self._stems_mask(state, (typed_stem,) if typed_stem else ())
        elif clause.kind == "audience":
            words = forward.phrase(clause.stems) if len(clause.stems) > 1 else self._stems_mask(state, clause.stems)
            mask = words | grade_mask(state, clause.grades)
        else:
            mask = self._stems_mask(state, clause.stems)
            if clause.types:
                mask = mask | code_mask(state, "type", clause.types)
            if clause.subjects:
                mask = mask | code_mask(state, "subject", clause.subjects)
        self._masks[clause] = mask
        return mask

    def _stems_mask(self, state: IndexState, stems: tuple[str, ...]) -> Mask:
        mask = np.zeros(state.size, dtype=np.bool_)
        for stem in stems:
            for field_name, term in self._stem_targets(stem):
                mask[state.postings.get(state.searcher, field_name, term)[0]] = True
        return mask


    # -- when nothing is found ------------------------------------------------------------------------
    def _help(
        self, state: IndexState, parsed: ParsedQuery, request: SearchRequest, filter_masks: dict[str, Mask],
    ) -> NoResultsHelp:
        """Nearest subjects and wider searches that do find something, and the filters that were set."""
        active = {facet: values for facet, values in request.filters().items() if values}
        broader: list[BroaderSearch] = []
        unfiltered = self._match(state, parsed, {}).text_mask
        if active and unfiltered.any():
            broader.append(BroaderSearch(f"Search all resources for “{request.text.strip()}”", request.text, {},
                                         int(np.count_nonzero(unfiltered))))
        loose = self._loosened_text(parsed)
        if loose and loose != request.text.strip():
            loose_parsed = parse_query(loose)
            loose_mask = self._match(state, loose_parsed, filter_masks).text_mask
            for mask in filter_masks.values():
                loose_mask = loose_mask & mask
            if loose_mask.any():
                broader.append(BroaderSearch(f"Search for “{loose}”", loose, active,
                                             int(np.count_nonzero(loose_mask))))
        scope, subject_text = unfiltered, request.text.strip()
        if not scope.any() and loose:
            scope, subject_text = self._match(state, parse_query(loose), {}).text_mask, loose
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
        return SearchHit(
            id=stored["id"],
            title=stored["title_text"],
            description=stored["description_text"],
            subject=stored["subject"],
            type=stored["type"],
            language=stored["language"],
            author=stored["author_text"],
            license_id=stored["license"],
            display=json.loads(stored["display"]),
            title_highlight=highlight(stored["title_text"], analyzer, stems, prefixes),
            description_highlight=highlight(stored["description_text"], analyzer, stems, prefixes, SNIPPET_CHARS),
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


