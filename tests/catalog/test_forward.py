"""The forward index: exact phrases and prefixes, realignment after incremental commits, spelling."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from marketplace.catalog import forward
from marketplace.catalog.forward import ForwardIndex, ForwardMismatchError
from marketplace.catalog.index_store import apply_changes, build_index
from marketplace.catalog.loader import load_catalog
from marketplace.catalog.search import CatalogIndex
from marketplace.catalog.search_types import SearchRequest
from marketplace.catalog.spelling import SpellingDictionary, edit_distance
from tests.conftest import write_resource


def test_phrase_and_prefix_on_a_small_forward_index() -> None:
    part = forward.encode_part(
        ["a", "b", "c"],
        [["green", "plant", "", "light"], ["plant", "green"], ["greenhous", "light", "green", "plant"]],
    )
    index = ForwardIndex(part, 3)
    assert index.phrase(["green", "plant"]).tolist() == [True, False, True]
    assert index.phrase(["plant", "light"]).tolist() == [False, False, False]  # across a source boundary
    assert index.phrase(["green", "unknown"]).tolist() == [False, False, False]
    assert index.prefix("green").tolist() == [True, True, True]
    assert index.prefix("greenh").tolist() == [False, False, True]
    assert list(index.prefix_stems("gre")) == ["green", "greenhous"]
    assert index.counts.tolist() == [3, 1, 2, 3]  # green, greenhous, light, plant


def test_no_phrase_runs_from_one_resource_into_the_next(content_dir: Path, tmp_path: Path) -> None:
    # In document order, one resource's last keyword is followed by the next resource's first title word.
    write_resource(content_dir, "aa-first", title="Alpha topics", keywords=("zebra",),
                   description="A description long enough to be valid for the loader to accept.")
    write_resource(content_dir, "ab-second", title="Crossing streams", keywords=("other",),
                   description="Another description long enough to be valid for the loader.")
    resources = sorted(load_catalog(content_dir).resources, key=lambda r: r.id)
    build_index(tmp_path / "index", resources, workers=1)
    catalog = CatalogIndex(tmp_path / "index")
    catalog.open()
    try:
        assert catalog.search(SearchRequest(text='"zebra crossing"')).total == 0
        assert catalog.search(SearchRequest(text='"crossing streams"')).total == 1
    finally:
        catalog.close()


def test_a_forward_index_of_another_generation_is_refused() -> None:
    part = forward.encode_part(["a"], [["word"]])
    with pytest.raises(ForwardMismatchError):
        ForwardIndex(part, 2)


def test_prefix_matches_every_word_with_that_start(content_dir: Path, tmp_path: Path) -> None:
    for number in range(40):
        write_resource(content_dir, f"volcano-{number}", title=f"Volcan{chr(97 + number % 26)}x{number} study",
                       description="A description long enough to be valid for the loader to accept.")
    build_index(tmp_path / "index", load_catalog(content_dir).resources, workers=1)
    catalog = CatalogIndex(tmp_path / "index")
    catalog.open()
    try:
        # 40 distinct words start with "volcan", plus "volcanoes" in plate-tectonics.
        assert catalog.search(SearchRequest(text="volcan", as_you_type=True)).total == 41
        assert catalog.search(SearchRequest(text="volcan*")).total == 41
        # A whole word typed in full still matches although its stem is shorter than the word.
        assert catalog.search(SearchRequest(text="earthquakes", as_you_type=True)).total == 1
    finally:
        catalog.close()


def test_incremental_commits_keep_phrases_aligned(content_dir: Path, tmp_path: Path) -> None:
    resources = {r.id: r for r in load_catalog(content_dir).resources}
    path = tmp_path / "index"
    build_index(path, resources.values(), workers=1)
    changed = dataclasses.replace(resources["fractions-pizza"], title="Fractions with chocolate cake",
                                  content_hash="changed")
    apply_changes(path, [changed], ["plant-cells"])
    apply_changes(path, [dataclasses.replace(changed, content_hash="again")], [])  # merges segments
    catalog = CatalogIndex(path)
    catalog.open()
    try:
        hits = catalog.search(SearchRequest(text='"chocolate cake"')).hits
        assert [hit.id for hit in hits] == ["fractions-pizza"]
        assert catalog.search(SearchRequest(text='"french revolution"')).hits[0].id == "french-revolution"
        assert catalog.search(SearchRequest(text='"cell walls"')).total == 0  # deleted
        assert catalog.search(SearchRequest(text='"fractions with pizza"')).total == 0  # replaced
        part = forward.load_part(path)
        assert sorted(i for i in part.resource_ids if i) == sorted(
            ["photosynthesis-basics", "fractions-pizza", "french-revolution", "plate-tectonics"])
    finally:
        catalog.close()


def test_spelling_handles_swaps_and_prefers_frequent_words() -> None:
    assert edit_distance("tboraul", "tobraul") == 1
    assert edit_distance("kitten", "sitting") == 3
    dictionary = SpellingDictionary(["motencor", "motenocrx", "photosynthesi", "photosynthet"],
                                    np.asarray([5, 1, 9, 1]))
    assert dictionary.closest("motenocr") == "motencor"
    assert dictionary.closest("photosinthesi") == "photosynthesi"
    assert dictionary.closest("zzzz") is None
