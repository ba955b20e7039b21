"""Parsing what people type into a search box, without ever failing.

Hand-written rather than Whoosh's QueryParser because its grammar turns stray operators, quotes and
wildcards into surprising trees, and because search needs the parsed structure itself (to compute facet
counts over the match set and to build prefix expansions). The grammar is small and forgiving:

- words are required (AND); `a OR b` makes either acceptable; `-word` or `NOT word` excludes;
- `"two words"` is a phrase (an unbalanced quote runs to the end of the text);
- `word*` is a prefix, and so is the last word while someone is still typing (`as_you_type`).
Anything else (lone operators, lone `*`, punctuation, control characters) is dropped.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Literal

MAX_QUERY_CHARS = 500
MAX_CLAUSES = 16
MIN_PREFIX_CHARS = 2

ClauseKind = Literal["term", "prefix", "phrase"]
_TOKEN = re.compile(r'"[^"]*"?|\S+')
_WORD = re.compile(r"\w+(?:['’]\w+)*", re.UNICODE)


@dataclass(frozen=True, slots=True)
class Clause:
    """One searchable unit: a word, a prefix or a phrase (words are lower-cased, not stemmed)."""

    kind: ClauseKind
    words: tuple[str, ...]

    @property
    def text(self) -> str:
        joined = " ".join(self.words)
        return f'"{joined}"' if self.kind == "phrase" else f"{joined}*" if self.kind == "prefix" else joined


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    """Required groups (each an OR of clauses) and excluded clauses."""

    required: tuple[tuple[Clause, ...], ...] = ()
    excluded: tuple[Clause, ...] = field(default=())

    @property
    def is_empty(self) -> bool:
        return not self.required

    def plain_words(self) -> list[str]:
        """The words of plain term clauses, in order (what spelling suggestions work on)."""
        return [clause.words[0] for group in self.required for clause in group if clause.kind == "term"]


def clean_text(text: str) -> str:
    """Cut to a sane length, normalise Unicode and drop control characters."""
    text = unicodedata.normalize("NFKC", text[: MAX_QUERY_CHARS * 4])[:MAX_QUERY_CHARS]
    return "".join(char if unicodedata.category(char)[0] != "C" else " " for char in text)


def _words(text: str) -> tuple[str, ...]:
    return tuple(word.casefold() for word in _WORD.findall(text))


def parse_query(text: str, *, as_you_type: bool = False) -> ParsedQuery:
    """Parse search text; never raises, and anything it cannot use is dropped."""
    cleaned = clean_text(text)
    typing_last_word = as_you_type and bool(cleaned) and not cleaned[-1].isspace()
    raw_tokens = _TOKEN.findall(cleaned)
    groups: list[list[Clause]] = []
    excluded: list[Clause] = []
    negate_next = False
    join_next = False
    for position, token in enumerate(raw_tokens):
        is_last = position == len(raw_tokens) - 1
        if token in {"AND", "&&"}:
            continue
        if token in {"OR", "||"}:
            join_next = bool(groups)
            continue
        if token in {"NOT", "!"}:
            negate_next = True
            continue
        negated = negate_next
        negate_next = False
        if token.startswith("-") and len(token) > 1 and not token.startswith('-"'):
            negated, token = True, token[1:]
        clauses: list[Clause] = []
        if token.startswith('"'):
            words = _words(token.strip('"'))
            if len(words) > 1:
                clauses.append(Clause("phrase", words[:12]))
            elif words:
                clauses.append(Clause("term", words))
        else:
            words = _words(token)
            wants_prefix = token.endswith("*") or (is_last and typing_last_word)
            for index, word in enumerate(words):
                last_of_token = index == len(words) - 1
                if wants_prefix and last_of_token and len(word) >= MIN_PREFIX_CHARS:
                    clauses.append(Clause("prefix", (word,)))
                else:
                    clauses.append(Clause("term", (word,)))
        for clause in clauses:
            if negated:
                excluded.append(clause)
            elif join_next and groups:
                groups[-1].append(clause)
                join_next = False
            else:
                groups.append([clause])
        join_next = False if clauses else join_next
    groups = groups[:MAX_CLAUSES]
    return ParsedQuery(tuple(tuple(group) for group in groups), tuple(excluded[:MAX_CLAUSES]))
