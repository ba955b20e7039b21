"""The relevance suite and the title targets, asked through /api/catalog/search on the bundled catalog,
beside a naive SQLite FTS5 search over the same data (see bench/relevance.py, which prints the figures)."""

from __future__ import annotations

import random
import re
import tomllib
from collections.abc import Iterator

import pytest

from bench.relevance import (
    ROOT,
    Search,
    SuiteQuery,
    catalog_titles,
    fts5_search,
    load_suite,
    our_search,
    score,
    title_queries,
    variant_queries,
)

SUITE = load_suite()


@pytest.fixture(scope="module")
def ours() -> Iterator[Search]:
    with our_search() as search:
        yield search


@pytest.fixture(scope="module")
def fts() -> Iterator[Search]:
    with fts5_search() as search:
        yield search


def test_the_suite_is_large_and_varied() -> None:
    assert len(SUITE) >= 150
    categories = {query.category for query in SUITE}
    assert {"title", "title-lower", "reordered", "plural-singular", "stop-words", "question", "misspelling",
            "subject", "code"} <= categories
    known = set(catalog_titles(ROOT / "content"))
    assert all(query.expected and set(query.expected) <= known for query in SUITE)


@pytest.mark.parametrize("query", SUITE, ids=lambda query: f"{query.category}:{query.text}")
def test_suite_query(ours: Search, query: SuiteQuery) -> None:
    found = ours(query.text)
    assert not query.misses(found), f"{query.text!r}: expected {query.expected}, found {found}"


def test_every_title_as_written_and_plain_in_the_top_3(ours: Search) -> None:
    scores = score(ours, title_queries(catalog_titles(ROOT / "content")))
    assert scores.pass_rate == 1.0, [(query.text, found[:3]) for query, found in scores.misses]


def test_reordered_title_variants_in_the_top_10(ours: Search) -> None:
    scores = score(ours, variant_queries(catalog_titles(ROOT / "content")))
    assert scores.pass_rate >= 0.95, [(query.text, found[:3]) for query, found in scores.misses[:20]]


def test_at_least_as_good_as_naive_fts5(ours: Search, fts: Search) -> None:
    mine, theirs = score(ours, SUITE), score(fts, SUITE)
    assert mine.recall3 >= theirs.recall3
    assert mine.mrr >= theirs.mrr


def test_any_words_the_catalog_holds_find_something(ours: Search) -> None:
    """Random mixes of catalog words (and stop words) never come back empty: the search relaxes."""
    words: list[str] = []
    for path in sorted((ROOT / "content" / "resources").glob("*/*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        words += re.findall(r"[A-Za-z]{3,}", f"{data['title']} {data['description']}")
    chooser = random.Random(9)
    for _ in range(150):
        query = " ".join(chooser.sample(words, chooser.randint(1, 5)) + chooser.sample(["the", "of", "for", ""], 1))
        assert ours(query), query
