"""The benchmark's query set: plain, filtered, phrase, prefix and misspelled queries in fixed shares, drawn
from the synthetic catalog's vocabulary with a fixed seed, so every run and every revision asks the same."""

from __future__ import annotations

import random
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.synthetic import ZipfSampler, vocabulary
from marketplace.catalog.licences import LICENCES
from marketplace.catalog.search_types import SearchRequest
from marketplace.catalog.vocabulary import GRADE_LEVELS, RESOURCE_TYPES, SUBJECTS

QUERY_SEED = 20240611

KINDS = ("plain", "filtered", "phrase", "prefix", "misspelled")


KIND_SHARES = {"filtered": 0.30, "phrase": 0.15, "prefix": 0.175, "misspelled": 0.075}  # plain: the rest


FACETS = ("subject", "grade", "type", "license")


FACET_VALUES = {
    "subject": tuple(SUBJECTS),
    "grade": tuple(GRADE_LEVELS),
    "type": tuple(RESOURCE_TYPES),
    "license": tuple(LICENCES),
}


WORD = re.compile(r"\w+")


# -- the query set -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BenchQuery:
    """One query as both engines see it. For prefix queries the last word is the prefix being typed."""

    kind: str
    words: tuple[str, ...]
    subjects: tuple[str, ...] = ()
    grades: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    licenses: tuple[str, ...] = ()
    intended: str | None = None  # the correct word of a misspelled query

    @property
    def text(self) -> str:
        joined = " ".join(self.words)
        return f'"{joined}"' if self.kind == "phrase" else joined

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.kind, self.words, self.subjects, self.grades, self.types, self.licenses)

    def filters(self) -> dict[str, tuple[str, ...]]:
        return {"subject": self.subjects, "grade": self.grades, "type": self.types, "license": self.licenses}

    def request_fields(self) -> dict[str, Any]:
        return {"text": self.text, "subjects": self.subjects, "grades": self.grades, "types": self.types,
                "licenses": self.licenses, "page": 1, "per_page": 20, "sort": "relevance",
                "as_you_type": self.kind == "prefix"}

    def request(self) -> SearchRequest:
        return SearchRequest(**self.request_fields())

    def fts_match(self) -> str:
        """The FTS5 MATCH expression: words ANDed, a phrase over the fields ours phrase-matches, `pre*`."""
        if self.kind == "phrase":
            return "{title description author} : \"" + " ".join(self.words) + '"'
        terms = [f'"{word}"' for word in self.words]
        if self.kind == "prefix":
            terms[-1] += "*"
        return " ".join(terms)

    def label(self) -> str:
        active = [f"{facet}={'|'.join(values)}" for facet, values in self.filters().items() if values]
        return self.text + (" [" + ", ".join(active) + "]" if active else "")


class QueryMaker:
    """Draws queries of each class from the Zipf vocabulary and real generated titles."""

    def __init__(self, seed: int, titles: Sequence[str]) -> None:
        self.rng = random.Random(seed)
        self.words = vocabulary()
        self.known = set(self.words)
        self.sampler = ZipfSampler(self.words, self.rng)
        self.titles = [title.casefold().split() for title in titles if len(title.split()) >= 2]

    def _word(self, min_length: int = 1) -> str:
        while True:
            word = self.sampler.sample(1)[0]
            if len(word) >= min_length:
                return word

    def _filters(self) -> dict[str, tuple[str, ...]]:
        rng = self.rng
        facets = [rng.choice(FACETS)] if rng.random() < 0.5 else ["grade", rng.choice(("subject", "type", "license"))]
        chosen: dict[str, tuple[str, ...]] = {}
        for facet in facets:
            values = FACET_VALUES[facet]
            if facet == "grade" and rng.random() < 0.3:
                first = rng.randrange(len(values) - 1)
                chosen[facet] = values[first : first + 2]
            else:
                chosen[facet] = (rng.choice(values),)
        return {"subjects": chosen.get("subject", ()), "grades": chosen.get("grade", ()),
                "types": chosen.get("type", ()), "licenses": chosen.get("license", ())}

    def make(self, kind: str) -> BenchQuery:
        rng = self.rng
        if kind == "plain":
            return BenchQuery(kind, tuple(self._word() for _ in range(rng.choice((1, 2)))))
        if kind == "filtered":
            words = tuple(self._word() for _ in range(rng.choice((1, 2))))
            chosen = self._filters()
            return BenchQuery(kind, words, subjects=chosen["subjects"], grades=chosen["grades"], types=chosen["types"],
                              licenses=chosen["licenses"])
        if kind == "phrase":
            title = rng.choice(self.titles)
            start = rng.randrange(len(title) - 1)
            return BenchQuery(kind, tuple(title[start : start + 2]))
        if kind == "prefix":
            word = self._word(min_length=5)
            prefix = word[: rng.randint(2, 4)]
            leading = (self._word(),) if rng.random() < 1 / 3 else ()
            return BenchQuery(kind, (*leading, prefix))
        if kind == "misspelled":
            while True:
                word = self._word(min_length=6)
                wrong = self._misspell(word)
                if wrong != word and wrong not in self.known:
                    return BenchQuery(kind, (wrong,), intended=word)
        raise ValueError(kind)

    def _misspell(self, word: str) -> str:
        rng = self.rng
        position = rng.randrange(1, len(word) - 1)  # keep the first letter, as people mostly do
        operation = rng.choice(("substitute", "delete", "transpose", "insert"))
        letter = rng.choice([c for c in string.ascii_lowercase if c != word[position]])
        if operation == "substitute":
            return word[:position] + letter + word[position + 1 :]
        if operation == "delete":
            return word[:position] + word[position + 1 :]
        if operation == "transpose":
            return word[:position] + word[position + 1] + word[position] + word[position + 2 :]
        return word[:position] + letter + word[position:]


def class_plan(count: int) -> dict[str, int]:
    plan = {kind: max(1, round(count * share)) for kind, share in KIND_SHARES.items()}
    plan = {"plain": count - sum(plan.values()), **plan}
    if plan["plain"] < 1:
        raise SystemExit(f"--queries {count} is too few for every query class")
    return plan


def make_queries(count: int, seed: int, titles: Sequence[str], exclude: set[tuple[Any, ...]]) -> list[BenchQuery]:
    """`count` distinct queries in the class proportions, none of whose keys is in `exclude`, shuffled."""
    maker = QueryMaker(seed, titles)
    seen = set(exclude)
    queries: list[BenchQuery] = []
    for kind, wanted in class_plan(count).items():
        made = attempts = 0
        while made < wanted:
            attempts += 1
            if attempts > wanted * 200:
                raise RuntimeError(f"could not draw {wanted} distinct {kind} queries")
            query = maker.make(kind)
            if query.key not in seen:
                seen.add(query.key)
                queries.append(query)
                made += 1
    maker.rng.shuffle(queries)
    return queries
