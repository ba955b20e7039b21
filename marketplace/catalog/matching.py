"""Matching and ranking for one search: which resources the words match (all of them, else most, else any),
and in which order (tiers of exact and phrase title matches, the audience, type and subject the words name,
then BM25F over the scored fields). A `QueryRun` lives for one search: the clause masks it computes are
shared by matching and scoring and then dropped."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from marketplace.catalog.analysis import shared_analyzer
from marketplace.catalog.facets import code_mask, grade_mask
from marketplace.catalog.index_state import SCORED_FIELDS, IndexState
from marketplace.catalog.query import Clause, ParsedQuery
from marketplace.catalog.search_types import (
    Mask,
    MatchLevel,
    Scores,
    SearchRequest,
)

BM25_B = 0.75
BM25_K1 = 1.2
PREFIX_SCORED_EXPANSIONS = 8
FEW_RESULTS = 3
TIER_TITLE_WORDS = 1e3
TIER_STEER = 2e3  # up to three hints (grade, subject, type): 3 * 2e3 + 2e3 stays below the next tier
TIER_TITLE_PHRASE = 1e4
TIER_EXACT_TITLE = 2e4
TIER_MATCHED_WORDS = 1e5


@dataclass(slots=True)
class Match:
    """What the text of a query matches, at the level the search settled on."""

    text_mask: Mask
    level: MatchLevel
    matched_groups: npt.NDArray[np.int8] | None
    all_words_total: int


class QueryRun:
    """One search over one index generation, with its clause masks."""

    def __init__(self) -> None:
        self._masks: dict[Clause, Mask] = {}

    def match(self, state: IndexState, parsed: ParsedQuery, filter_masks: dict[str, Mask]) -> Match:
        """All the wanted words first; when that finds fewer than FEW_RESULTS, most of them, then any.

        Phrases and exclusions always hold: a teacher who quotes or excludes means it.
        """
        mandatory = state.alive.copy()
        relaxable: list[Mask] = []
        for group in parsed.required:
            group_mask = np.zeros(state.size, dtype=np.bool_)
            for clause in group:
                group_mask |= self.clause_mask(state, clause)
            if any(clause.kind == "phrase" for clause in group):
                mandatory &= group_mask
            else:
                relaxable.append(group_mask)
        for clause in parsed.excluded:
            mandatory &= ~self.clause_mask(state, clause)
        if not relaxable:
            return Match(mandatory, "all", None, 0)
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
        return Match(best, level, matched, all_total)
    def ranked(
        self, state: IndexState, parsed: ParsedQuery, final: Mask, match: Match, request: SearchRequest,
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
                self.add_clause_scores(state, clause, scores)
        for clause in parsed.optional:
            self.add_clause_scores(state, clause, scores)
        text_scores = scores.copy()
        np.clip(scores, 0.0, TIER_TITLE_WORDS - 1.0, out=scores)
        scores += self.title_tiers(state, parsed)
        scores += TIER_STEER * self.steering(state, parsed)
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
    def title_tiers(self, state: IndexState, parsed: ParsedQuery) -> Scores:
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
                    group_mask |= self.title_mask(state, clause)
                in_title += group_mask
            tiers += TIER_TITLE_WORDS * in_title / len(parsed.required)
        return tiers
    def title_mask(self, state: IndexState, clause: Clause) -> Mask:
        if clause.kind == "phrase":
            assert state.forward is not None  # noqa: S101 - set by _load
            return state.forward.title_matches(clause.stems)[1]
        mask = np.zeros(state.size, dtype=np.bool_)
        for field_name, term in self.clause_targets(state, clause):
            if field_name == "title":
                mask[state.postings.get(state.searcher, field_name, term)[0]] = True
        return mask
    def steering(self, state: IndexState, parsed: ParsedQuery) -> Scores:
        """1 for each of the query's audience, subject and type hints that a resource fits."""
        steering = np.zeros(state.size, dtype=np.float64)
        if parsed.subjects:
            steering += code_mask(state, "subject", parsed.subjects)
        if parsed.grades:
            steering += grade_mask(state, parsed.grades)
        if parsed.types:
            steering += code_mask(state, "type", parsed.types)
        return steering
    def add_clause_scores(self, state: IndexState, clause: Clause, scores: Scores) -> None:
        if clause.kind == "phrase":
            phrase_scores = np.zeros(state.size, dtype=np.float64)
            for stem in clause.stems:
                self.add_term_scores(state, self.stem_targets(stem), phrase_scores)
            phrase_scores *= self.clause_mask(state, clause)
            scores += phrase_scores
        elif clause.kind == "audience":
            for stem in clause.stems:
                self.add_term_scores(state, self.stem_targets(stem), scores)
        else:
            self.add_term_scores(state, self.clause_targets(state, clause), scores)
    def add_term_scores(self, state: IndexState, targets: list[tuple[str, str]], scores: Scores) -> None:
        searcher = state.searcher
        document_count = searcher.doc_count_all()
        for field_name, term in targets:
            ids, weights = state.postings.get(searcher, field_name, term)
            if not len(ids):
                continue
            # The posting array holds every document with the term, deleted ones included, as Whoosh's
            # doc_frequency counts them; asking Whoosh again was a hash lookup per segment per term.
            idf = math.log(document_count / (len(ids) + 1)) + 1
            lengths = state.lengths[field_name][ids]
            norm = BM25_K1 * ((1 - BM25_B) + BM25_B * lengths / state.average_lengths[field_name])
            scores[ids] += idf * (weights * (BM25_K1 + 1)) / (weights + norm)
    @staticmethod
    def stem_targets(stem: str) -> list[tuple[str, str]]:
        return [(name, stem) for name in SCORED_FIELDS]
    def clause_targets(self, state: IndexState, clause: Clause) -> list[tuple[str, str]]:
        """(field, indexed term) pairs that a term or prefix clause matches."""
        if clause.kind == "prefix":
            return self.expand_prefix(state, clause.words[0])
        return [target for stem in clause.stems for target in self.stem_targets(stem)]
    def expand_prefix(self, state: IndexState, prefix: str) -> list[tuple[str, str]]:
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
        typed_stem = shared_analyzer().analyse_word(prefix)
        if typed_stem:
            expansion += [target for target in self.stem_targets(typed_stem) if target not in expansion]
        state.prefixes[prefix] = expansion
        if len(state.prefixes) > 4096:
            state.prefixes.popitem(last=False)
        return expansion
    def clause_mask(self, state: IndexState, clause: Clause) -> Mask:
        cached = self._masks.get(clause)
        if cached is not None:
            return cached
        forward = state.forward
        assert forward is not None  # noqa: S101 - set by _load
        if clause.kind == "phrase":
            mask = forward.phrase(clause.stems) if len(clause.stems) > 1 else self.stems_mask(state, clause.stems)
        elif clause.kind == "prefix":
            # Every document with a word starting with the prefix, however many words that is.
            typed_stem = shared_analyzer().analyse_word(clause.words[0])
            mask = forward.prefix(clause.words[0]) | self.stems_mask(state, (typed_stem,) if typed_stem else ())
        elif clause.kind == "audience":
            words = forward.phrase(clause.stems) if len(clause.stems) > 1 else self.stems_mask(state, clause.stems)
            mask = words | grade_mask(state, clause.grades)
        else:
            mask = self.stems_mask(state, clause.stems)
            if clause.types:
                mask = mask | code_mask(state, "type", clause.types)
            if clause.subjects:
                mask = mask | code_mask(state, "subject", clause.subjects)
        self._masks[clause] = mask
        return mask
    def stems_mask(self, state: IndexState, stems: tuple[str, ...]) -> Mask:
        mask = np.zeros(state.size, dtype=np.bool_)
        for stem in stems:
            for field_name, term in self.stem_targets(stem):
                mask[state.postings.get(state.searcher, field_name, term)[0]] = True
        return mask
