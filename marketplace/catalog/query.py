"""Parsing what people type into a search box, without ever failing.

Hand-written rather than Whoosh's QueryParser because its grammar turns stray operators, quotes and
wildcards into surprising trees, and because search needs the parsed structure itself (to relax a query
word by word, to compute facet counts over the match set and to build prefix expansions). The grammar is
small and forgiving:

- words are wanted (all of them first; the search relaxes to most, then any, when that finds too little);
  `a OR b` makes either acceptable; `-word` or `NOT word` excludes;
- `"two words"` is a phrase, always required (an unbalanced quote runs to the end of the text);
- `word*` is a prefix, and so is the last word while someone is still typing (`as_you_type`);
- stop words ("the", "of") are dropped exactly as they are when indexing (one analysis for both sides);
- question and request words ("what is", "lesson on"), audience phrases ("for high school") and material
  words ("quiz") are optional: they score where they match and steer the ranking (see `intent`).
Anything else (lone operators, lone `*`, punctuation, control characters) is dropped.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Literal

from marketplace.catalog.analysis import Analyzer, normalise, shared_analyzer
from marketplace.catalog.intent import find_audiences, is_filler, subject_hint, type_hint

MAX_QUERY_CHARS = 500
MAX_CLAUSES = 16
MIN_PREFIX_CHARS = 2
# "-ar verbs", "-er endings": a hyphen before two letters or fewer is a word ending, not an exclusion.
MIN_EXCLUDED_CHARS = 3

ClauseKind = Literal["term", "prefix", "phrase", "audience"]
_TOKEN = re.compile(r'"[^"]*"?|\S+')


@dataclass(frozen=True, slots=True)
class Clause:
    """One searchable unit: a word, a prefix, a phrase, or an audience phrase.

    `words` are folded surface words (what highlights and suggestions show), `stems` their analysed forms
    (what the index holds). A prefix keeps its typed letters as its only stem. `types` and `grades` are
    hints from intent words: the clause also matches resources of those subjects, types or grade levels.
    """

    kind: ClauseKind
    words: tuple[str, ...]
    stems: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    grades: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        joined = " ".join(self.words)
        return f'"{joined}"' if self.kind == "phrase" else f"{joined}*" if self.kind == "prefix" else joined


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    """Wanted groups (each an OR of clauses), optional clauses, excluded clauses, and what was read.

    `sequence` holds the stems of every wanted and optional word in the order typed: a resource whose title
    is exactly that (or exactly the wanted words) is the best possible match.
    """

    required: tuple[tuple[Clause, ...], ...] = ()
    excluded: tuple[Clause, ...] = field(default=())
    optional: tuple[Clause, ...] = field(default=())
    sequence: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.required

    @property
    def grades(self) -> tuple[str, ...]:
        """Grade levels the query's audience words name."""
        return tuple(dict.fromkeys(grade for clause in self._hinting() for grade in clause.grades))

    @property
    def types(self) -> tuple[str, ...]:
        """Resource types the query's material words name."""
        return tuple(dict.fromkeys(kind for clause in self._hinting() for kind in clause.types))

    @property
    def subjects(self) -> tuple[str, ...]:
        """Subjects the query's words name."""
        return tuple(dict.fromkeys(subject for clause in self._hinting() for subject in clause.subjects))

    def _hinting(self) -> list[Clause]:
        return [*self.optional, *(clause for group in self.required for clause in group)]

    def content_stems(self) -> tuple[str, ...]:
        """The stems of the wanted words in order (the topic without the question around it)."""
        return tuple(stem for group in self.required for clause in group if clause.kind in {"term", "phrase"}
                     for stem in clause.stems)

    def plain_words(self) -> list[str]:
        """The words of plain term clauses, in order (what spelling suggestions work on)."""
        return [clause.words[0] for group in self.required for clause in group if clause.kind == "term"]


def clean_text(text: str) -> str:
    """Cut to a sane length, normalise Unicode and drop control characters."""
    text = unicodedata.normalize("NFKC", text[: MAX_QUERY_CHARS * 4])[:MAX_QUERY_CHARS]
    return "".join(char if unicodedata.category(char)[0] != "C" else " " for char in text)


class _Builder:
    """Collects clauses while the tokens of one query are read."""

    def __init__(self, analyzer: Analyzer) -> None:
        self.analyzer = analyzer
        self.groups: list[list[Clause]] = []
        self.excluded: list[Clause] = []
        self.optional: list[Clause] = []
        self.ignored: list[str] = []
        self.sequence: list[str] = []

    def word_clauses(self, token: str, *, wants_prefix: bool) -> list[tuple[Clause, bool]]:
        """(clause, is_optional) for the words of one unquoted token."""
        surfaces = self.analyzer.surfaces(token)
        clauses: list[tuple[Clause, bool]] = []
        for index, surface in enumerate(surfaces):
            word = normalise(surface)
            if not word:
                continue
            last_of_token = index == len(surfaces) - 1
            if wants_prefix and last_of_token and len(word) >= MIN_PREFIX_CHARS:
                stop = self.analyzer.is_stop_word(surface) or is_filler(word)
                clauses.append((Clause("prefix", (word,), (word,)), stop))
                continue
            stem = self.analyzer.analyse_word(surface)
            if stem is None:
                self.ignored.append(word)
                continue
            self.sequence.append(stem)
            hinted = type_hint(word)
            if hinted or is_filler(word):
                clauses.append((Clause("term", (word,), (stem,), types=hinted), True))
            else:
                clauses.append((Clause("term", (word,), (stem,), subjects=subject_hint(word)), False))
        return clauses

    def phrase_clause(self, token: str) -> Clause | None:
        surfaces = self.analyzer.surfaces(token.strip('"'))
        pairs = [(normalise(surface), self.analyzer.analyse_word(surface)) for surface in surfaces]
        words = tuple(word for word, stem in pairs if stem)[:12]
        stems = tuple(stem for _word, stem in pairs if stem)[:12]
        self.sequence.extend(stems)
        if len(stems) > 1:
            return Clause("phrase", words, stems)
        if stems:
            return Clause("term", words, stems)
        return None


def parse_query(text: str, *, as_you_type: bool = False, analyzer: Analyzer | None = None) -> ParsedQuery:
    """Parse search text; never raises, and anything it cannot use is dropped."""
    builder = _Builder(analyzer or shared_analyzer())
    cleaned = clean_text(text)
    typing_last_word = as_you_type and bool(cleaned) and not cleaned[-1].isspace()
    # Audience phrases ("for high school") become one optional clause each and leave the word stream.
    audiences = find_audiences(cleaned)
    for audience in reversed(audiences):
        cleaned = cleaned[: audience.start] + " " * (audience.end - audience.start) + cleaned[audience.end :]
    raw_tokens = _TOKEN.findall(cleaned)
    negate_next = False
    join_next = False
    for position, token in enumerate(raw_tokens):
        is_last = position == len(raw_tokens) - 1
        if token in {"AND", "&&"}:
            continue
        if token in {"OR", "||"}:
            join_next = bool(builder.groups)
            continue
        if token in {"NOT", "!"}:
            negate_next = True
            continue
        negated = negate_next
        negate_next = False
        if token.startswith("-") and len(token) > MIN_EXCLUDED_CHARS and not token.startswith('-"'):
            negated, token = True, token[1:]
        typed_so_far = len(builder.sequence)
        clauses: list[tuple[Clause, bool]]
        if token.startswith('"'):
            phrase = builder.phrase_clause(token)
            clauses = [(phrase, False)] if phrase else []
        else:
            wants_prefix = token.endswith("*") or (is_last and typing_last_word)
            clauses = builder.word_clauses(token, wants_prefix=wants_prefix)
        if negated:
            del builder.sequence[typed_so_far:]  # excluded words are not part of what is looked for
        for clause, is_optional in clauses:
            if negated:
                builder.excluded.append(clause)
            elif join_next and builder.groups:
                builder.groups[-1].append(clause)
                join_next = False
            elif is_optional:
                builder.optional.append(clause)
            else:
                builder.groups.append([clause])
        join_next = False if clauses else join_next
    for audience in audiences:
        words = tuple(normalise(surface) for surface in builder.analyzer.surfaces(audience.text))
        stems = tuple(builder.analyzer.stems(audience.text))
        builder.optional.append(Clause("audience", words, stems, grades=audience.grades))
    groups: list[list[Clause]] = builder.groups
    optional: list[Clause] = builder.optional
    if not groups and optional:
        # Only question, audience or material words ("a quiz", "for kids"): they are the topic then.
        groups, optional = [[clause] for clause in optional], []
    return ParsedQuery(
        tuple(tuple(group) for group in groups[:MAX_CLAUSES]),
        tuple(builder.excluded[:MAX_CLAUSES]),
        tuple(optional[:MAX_CLAUSES]),
        tuple(builder.sequence[:64]),
        tuple(dict.fromkeys(builder.ignored)),
    )
