"""Search: ranking, filters, disjunctive facets, paging, highlights, suggestions, malformed input."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from whoosh import index as whoosh_index
from whoosh.query import Or, Term

from marketplace.catalog.index_store import build_index
from marketplace.catalog.loader import load_catalog
from marketplace.catalog.postings import read_postings
from marketplace.catalog.query import parse_query
from marketplace.catalog.search import CatalogIndex
from marketplace.catalog.search_types import SearchRequest
from tests.conftest import write_resource


@pytest.fixture
def catalog(content_dir: Path, tmp_path: Path) -> Iterator[CatalogIndex]:
    resources = load_catalog(content_dir).resources
    build_index(tmp_path / "index", resources, workers=1)
    opened = CatalogIndex(tmp_path / "index")
    opened.open()
    yield opened
    opened.close()


def ids(catalog: CatalogIndex, **kwargs: object) -> list[str]:
    return [hit.id for hit in catalog.search(SearchRequest(**kwargs)).hits]  # type: ignore[arg-type]


def test_title_match_ranks_above_description_match(catalog: CatalogIndex) -> None:
    found = ids(catalog, text="photosynthesis")
    assert found[0] == "photosynthesis-basics"
    assert "plant-cells" in found  # the word is only in its description
    assert "fractions-pizza" not in found


def test_stemming_and_all_words_first(catalog: CatalogIndex) -> None:
    assert ids(catalog, text="earthquake") == ["plate-tectonics"]
    # One resource holds both words: it comes first, then those holding one (too few hold all of them).
    result = catalog.search(SearchRequest(text="photosynthesis microscope"))
    assert [hit.id for hit in result.hits][:1] == ["plant-cells"]
    assert result.relaxation is not None and result.relaxation.all_words_total == 1
    assert ids(catalog, text="photosynthesis OR fractions")[:3].count("fractions-pizza") == 1
    assert "photosynthesis-basics" not in ids(catalog, text="photosynthesis -chlorophyll")


def test_phrase_and_prefix(catalog: CatalogIndex) -> None:
    assert ids(catalog, text='"french revolution"') == ["french-revolution"]
    assert ids(catalog, text='"revolution french"') == []
    assert ids(catalog, text="volc", as_you_type=True) == ["plate-tectonics"]
    assert ids(catalog, text="volc") == []  # not typing: a whole word
    assert ids(catalog, text="frac*") == ["fractions-pizza"]


def test_phrases_of_three_words_and_source_boundaries(content_dir: Path, tmp_path: Path) -> None:
    write_resource(content_dir, "green-plants-light", title="Sunlight for green plants",
                   description="In the greenhouse at night, green plants light up under the growing lamps.")
    write_resource(content_dir, "plants-green-light", title="Traffic lights",
                   description="Green plants grow tall in spring, and house plants light up any dull room.")
    build_index(tmp_path / "index2", load_catalog(content_dir).resources, workers=1)
    catalog = CatalogIndex(tmp_path / "index2")
    catalog.open()
    try:
        # Both contain the pairs "green plant" and "plant light", only one has the three words in a row.
        assert ids(catalog, text='"green plants light"') == ["green-plants-light"]
        # The last word of a title and the first of the description are not a phrase.
        assert ids(catalog, text='"basics how"') == []
        assert ids(catalog, text='"Ada Author"')[:1] != []  # author names are phrase-searchable
    finally:
        catalog.close()


def test_each_filter_and_disjunctive_facets(catalog: CatalogIndex) -> None:
    everything = catalog.search(SearchRequest())
    assert everything.total == 5
    assert everything.facets["subject"]["biology"] == 2
    assert everything.facets["grade"]["9-12"] == 3
    assert everything.facets["license"]["CC0-1.0"] == 1
    assert everything.facets["type"]["link"] == 5
    assert ids(catalog, subjects=("history",)) == ["french-revolution"]
    assert sorted(ids(catalog, grades=("k-2", "higher-ed"))) == ["fractions-pizza", "french-revolution"]
    assert ids(catalog, licenses=("CC-BY-SA-4.0",)) == ["french-revolution"]
    assert ids(catalog, types=("quiz",)) == []
    filtered = catalog.search(SearchRequest(subjects=("biology",), grades=("9-12",)))
    assert filtered.total == 2
    # A facet's own filter does not narrow its counts; the other filters do.
    assert filtered.facets["subject"] == {**{k: 0 for k in filtered.facets["subject"]}, "biology": 2, "history": 1}
    assert filtered.facets["grade"]["6-8"] == 1 and filtered.facets["grade"]["9-12"] == 2


def test_paging_bounds_and_title_sort(catalog: CatalogIndex) -> None:
    first = catalog.search(SearchRequest(per_page=2, sort="title"))
    assert [hit.title for hit in first.hits] == ["Fractions with pizza", "Photosynthesis basics"]
    assert first.page_count == 3
    last = catalog.search(SearchRequest(per_page=2, page=3, sort="title"))
    assert [hit.id for hit in last.hits] == ["french-revolution"] or len(last.hits) == 1
    beyond = catalog.search(SearchRequest(per_page=2, page=9))
    assert beyond.hits == [] and beyond.total == 5


def test_highlights_mark_query_words(catalog: CatalogIndex) -> None:
    hit = catalog.search(SearchRequest(text="photosynthesis")).hits[0]
    assert ("Photosynthesis", True) in hit.title_highlight
    assert ("green", True) not in hit.description_highlight
    cells = next(h for h in catalog.search(SearchRequest(text="photosynthesis")).hits if h.id == "plant-cells")
    assert ("photosynthesis", True) in cells.description_highlight
    hits = catalog.search(SearchRequest(text="chloro", as_you_type=True)).hits
    prefix = next(h for h in hits if h.id == "plant-cells")
    assert any(matched and text.lower().startswith("chloro") for text, matched in prefix.description_highlight)


def test_did_you_mean(catalog: CatalogIndex) -> None:
    # A word no resource holds is replaced by its nearest known spelling, and the result says so.
    result = catalog.search(SearchRequest(text="photosinthesis"))
    assert {hit.id for hit in result.hits} == {"photosynthesis-basics", "plant-cells"}
    assert result.corrections == {"photosinthesis": "photosynthesis"}
    assert result.suggestion == result.corrected_text == "photosynthesis"
    assert catalog.search(SearchRequest(text="photosynthesis")).suggestion is None
    # A misspelt ending that stemming keeps apart: the longest known stem it starts with.
    assert catalog.search(SearchRequest(text="earthquakse")).corrections == {"earthquakse": "earthquakes"}
    assert catalog.search(SearchRequest(text="tectonicks")).corrections == {"tectonicks": "tectonics"}


MALFORMED = ['"unbalanced', "AND OR", "*", "OR", "NOT", "-", '""', "photo AND OR plants", "((()))", "a" * 10_000,
             "plants\x00\x07\x1b[31m", "光合作用 🌱 ÄÖÜ", "title:", "[to]", "~2 ^3", "photo*synthesis*", "-\"x"]


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_queries_never_raise(catalog: CatalogIndex, text: str) -> None:
    for as_you_type in (False, True):
        result = catalog.search(SearchRequest(text=text, as_you_type=as_you_type))
        assert result.total >= 0
    assert ids(catalog, text='"photosynthesis') == ids(catalog, text="photosynthesis")
    assert ids(catalog, text="photosynthesis AND OR") == ids(catalog, text="photosynthesis")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200), as_you_type=st.booleans())
def test_no_query_string_raises(catalog: CatalogIndex, text: str, as_you_type: bool) -> None:
    result = catalog.search(SearchRequest(text=text, as_you_type=as_you_type))
    assert 0 <= result.total <= 5
    parse_query(text)


def test_scores_equal_whoosh_bm25f(content_dir: Path, tmp_path: Path) -> None:
    """Our array-based scoring must reproduce Whoosh's own BM25F scores exactly."""
    resources = load_catalog(content_dir).resources
    build_index(tmp_path / "index", resources, workers=1)
    catalog = CatalogIndex(tmp_path / "index")
    catalog.open()

    def compare(catalog: CatalogIndex) -> None:
        ix = whoosh_index.open_dir(str(tmp_path / "index"))
        with ix.searcher() as searcher:
            for word, stem in [("photosynthesis", "photosynthesi"), ("plants", "plant"), ("revolution", "revolut")]:
                query = Or([Term(f, stem) for f in ("title", "keywords", "description", "author")])
                expected = {hit["id"]: hit.score for hit in searcher.search(query, limit=None)}
                ours = {hit.id: hit.text_score for hit in catalog.search(SearchRequest(text=word)).hits}
                assert ours.keys() == expected.keys()
                for key, score in expected.items():
                    assert ours[key] == pytest.approx(score, rel=1e-5)

    compare(catalog)
    catalog.close()
    # Two segments with deleted documents still counted in the term statistics, as after a re-index.
    from marketplace.catalog.index_store import apply_changes

    changed = next(item for item in resources if item.id == "plant-cells")
    apply_changes(tmp_path / "index", [dataclasses.replace(changed, title="Plant cells and plants", content_hash="x")],
                  ["french-revolution"])
    with whoosh_index.open_dir(str(tmp_path / "index")).reader() as reader:
        assert reader.has_deletions()  # the old documents' postings are still there, and counted
    reopened = CatalogIndex(tmp_path / "index")
    reopened.open()
    assert reopened.search(SearchRequest(text="revolution")).total == 0
    compare(reopened)
    reopened.close()


def test_block_postings_equal_the_public_matcher(content_dir: Path, tmp_path: Path) -> None:
    resources = load_catalog(content_dir).resources
    build_index(tmp_path / "index", resources, workers=1)
    ix = whoosh_index.open_dir(str(tmp_path / "index"))
    with ix.searcher() as searcher:
        for field, term in [("description", "photosynthesi"), ("subject", "biology"), ("grade", "9-12")]:
            fast = read_postings(searcher, field, term)
            slow = read_postings(searcher, field, term, use_blocks=False)
            assert len(fast[0]) > 0
            assert np.array_equal(fast[0], slow[0]) and np.allclose(fast[1], slow[1])


def test_title_order_folds_accents_like_search(content_dir: Path, tmp_path: Path) -> None:
    write_resource(content_dir, "ecologie", title="Écologie des forêts", description="Les forêts et leurs habitants.")
    write_resource(content_dir, "zebra", title="Zebra stripes", description="Why zebras have stripes at all.")
    build_index(tmp_path / "sorted", load_catalog(content_dir).resources, workers=1)
    catalog = CatalogIndex(tmp_path / "sorted")
    catalog.open()
    try:
        order = ids(catalog, sort="title", per_page=20)
        assert order[0] == "ecologie" and order[-1] == "zebra"  # unfolded, "É" would sort after "Z"
        assert ids(catalog, text="ecologie foret") == ["ecologie"]  # accents folded on both sides
    finally:
        catalog.close()


def test_an_index_built_by_another_analysis_is_refused_until_rebuilt(content_dir: Path, tmp_path: Path) -> None:
    from marketplace.catalog.index_store import ANALYSIS_FILE, analysis_is_current
    from marketplace.catalog.search_types import IndexMissingError

    build_index(tmp_path / "old", load_catalog(content_dir).resources, workers=1)
    assert analysis_is_current(tmp_path / "old")
    (tmp_path / "old" / ANALYSIS_FILE).unlink()  # indexes of the stop-word-blind analysis have no such file
    assert not analysis_is_current(tmp_path / "old")
    with pytest.raises(IndexMissingError, match="older version"):
        CatalogIndex(tmp_path / "old").open()


def test_an_index_with_no_documents_opens_and_finds_nothing(tmp_path: Path) -> None:
    """Every catalog file refused still gives an index the app can start with (it used to stop start-up)."""
    build_index(tmp_path / "index", [], workers=1)
    empty = CatalogIndex(tmp_path / "index")
    empty.open()
    try:
        assert empty.document_count() == 0
        result = empty.search(SearchRequest(text="photosynthesis"))
        assert result.total == 0 and result.hits == []
        assert empty.search(SearchRequest(text="")).total == 0
        assert empty.search(SearchRequest(text="", sort="title")).total == 0  # the browse page's order
        empty.warm()  # what start-up runs in the background
    finally:
        empty.close()


def test_highlights_skip_only_fields_that_cannot_match(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A field whose indexed words hold none of the query's stems is not analysed again for its highlight.
    On the bundled catalog, with words, phrases, stop words and prefixes, every hit's highlights must equal
    those made by analysing every field; and fewer texts must be analysed (or the skip never happens)."""
    from marketplace.catalog import analysis
    from marketplace.catalog import search as search_module
    from tests.conftest import PROJECT_DIR

    resources = load_catalog(PROJECT_DIR / "content", workers=1).resources
    # Found by "one" through its title; its description holds the stop word "on", which a highlight of "one"
    # marks (both fold to "on") but the index never holds.
    own = tmp_path / "own"
    shutil.copytree(PROJECT_DIR / "content" / "thumbnails", own / "thumbnails")
    write_resource(own, "one-cell-at-a-time", title="One cell at a time",
                   description="Cells divide on a schedule of their own.", keywords=("mitosis",))
    added = load_catalog(own, workers=1)
    assert not added.problems and len(added.resources) == 1
    resources += added.resources
    build_index(tmp_path / "index", resources, workers=1)
    catalog = CatalogIndex(tmp_path / "index")
    rng = np.random.default_rng(5)
    words = sorted({word for resource in resources for word in resource.title.split() if word.isalpha()})
    texts = [" ".join(rng.choice(words, int(rng.integers(1, 4)), replace=False)) for _ in range(60)]
    texts += ["the water cycle", "for the cell", "cell*", "photo*", '"solar system"', "a", "energy the"]
    # Words whose stem is spelt like a stop word ("one" -> "on", "being" -> "be"): a highlight marks the stop
    # word "on" too, which the index never holds, so those fields are always analysed.
    texts += ["one", "being", "willing", "one cell", "ones"]
    requests = [SearchRequest(text=text, per_page=20) for text in texts]
    requests += [SearchRequest(text=text[:4], as_you_type=True) for text in texts[:20]]
    analysed = [0]
    spans = analysis.Analyzer.spans

    def counted(self: analysis.Analyzer, text: str) -> list[tuple[str, int, int]]:
        analysed[0] += 1
        return spans(self, text)

    monkeypatch.setattr(analysis.Analyzer, "spans", counted)

    def highlights() -> list[list[tuple[str, object, object]]]:
        return [[(hit.id, hit.title_highlight, hit.description_highlight) for hit in catalog.search(request).hits]
                for request in requests]

    try:
        skipping = highlights()
        with_skip, analysed[0] = analysed[0], 0
        monkeypatch.setattr(search_module, "_holds_any", lambda *_args: True)
        everything = highlights()
    finally:
        catalog.close()
    assert skipping == everything
    assert sum(map(len, everything)) > 300  # the queries found enough to compare
    assert with_skip < analysed[0] * 0.8, (with_skip, analysed[0])
