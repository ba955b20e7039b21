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


def _rebuilt_slowly(previous: forward.ForwardPart, docnum_ids: list[str | None],
                    fresh: dict[str, list[str]]) -> list[list[str]]:
    """Each new document's stems, read one document at a time (what the vectorised rebuild must equal)."""
    offsets = np.concatenate([[0], np.cumsum(previous.lengths)])
    old = {rid: [previous.vocabulary[t] if t >= 0 else "" for t in previous.tokens[offsets[n]:offsets[n + 1]]]
           for n, rid in enumerate(previous.resource_ids) if rid}
    return [[] if rid is None else list(fresh[rid]) if rid in fresh else old.get(rid, []) for rid in docnum_ids]


def _stems_of(part: forward.ForwardPart) -> list[list[str]]:
    offsets = np.concatenate([[0], np.cumsum(part.lengths)])
    return [[part.vocabulary[t] if t >= 0 else "" for t in part.tokens[offsets[n]:offsets[n + 1]]]
            for n in range(len(part.lengths))]


@pytest.mark.parametrize("seed", range(6))
def test_the_vectorised_rebuild_equals_one_document_at_a_time(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forward, "GATHER_BLOCK", [1, 7, 4096][seed % 3])  # blocks of one, a few, all documents
    rng = np.random.default_rng(seed)
    words = [f"w{number}" for number in range(40)]

    def sequence() -> list[str]:
        return [words[k] if k < 40 else "" for k in rng.integers(0, 44, int(rng.integers(0, 12)))]

    ids = [f"r{number}" for number in range(30)]
    previous = forward.encode_part(ids, [sequence() for _ in ids])
    previous.resource_ids[3] = ""  # a document deleted in the previous generation
    fresh = {rid: sequence() for rid in rng.choice([*ids, "new-1", "new-2"], 6, replace=False).tolist()}
    docnum_ids: list[str | None] = [None if rng.random() < 0.2 else rid for rid in ids] + ["new-1", None, "gone"]
    fresh.setdefault("new-1", ["w1", "", "w2"])
    rebuilt = forward.rebuild_for_generation(previous, docnum_ids, fresh)
    assert _stems_of(rebuilt) == _rebuilt_slowly(previous, docnum_ids, fresh)
    assert rebuilt.resource_ids == [rid or "" for rid in docnum_ids]
    assert rebuilt.tokens.dtype == np.int32 and rebuilt.lengths.dtype == np.int64
    assert forward.rebuild_for_generation(previous, [], {}).tokens.size == 0


def test_the_forward_index_stays_aligned_through_kept_and_merged_segments(content_dir: Path, tmp_path: Path) -> None:
    """apply_changes reuses the ids of segments a commit kept and reads only new or merged ones: after each of
    many commits, every document's stems must equal its resource's, in the index's own document order."""
    from whoosh.filedb.filestore import FileStorage

    from marketplace.catalog.schema import analyze, word_analyzer

    template = load_catalog(content_dir).resources[0]
    resources = {f"res-{n:03d}": dataclasses.replace(template, id=f"res-{n:03d}", title=f"Topic {n} title",
                                                     description=f"About item {n} in words", content_hash=str(n))
                 for n in range(60)}
    path = tmp_path / "index"
    build_index(path, resources.values(), workers=1)
    rng = np.random.default_rng(7)
    kept_rounds = merged_rounds = 0
    for round_number in range(14):
        before = {segment.segment_id() for segment in FileStorage(str(path)).open_index()._segments()}
        live = sorted(resources)
        deletions = rng.choice(live, int(rng.integers(0, 4)), replace=False).tolist()
        for resource_id in deletions:
            del resources[resource_id]
        changed = []
        for resource_id in rng.choice(sorted(resources), int(rng.integers(1, 6)), replace=False).tolist():
            resources[resource_id] = dataclasses.replace(resources[resource_id], content_hash=f"{round_number}",
                                                         title=f"Changed {resource_id} round {round_number}")
            changed.append(resources[resource_id])
        added = dataclasses.replace(template, id=f"add-{round_number:02d}", title=f"Added in round {round_number}",
                                    content_hash="a")
        resources[added.id] = added
        apply_changes(path, [*changed, added], deletions)
        after = {segment.segment_id() for segment in FileStorage(str(path)).open_index()._segments()}
        kept_rounds += bool(before & after)
        merged_rounds += bool(before - after)
        with FileStorage(str(path)).open_index().searcher() as searcher:
            reader = searcher.reader()
            expected = [None if reader.is_deleted(docnum) else resource_id
                        for docnum, resource_id in enumerate(reader.column_reader("id"))]
        part = forward.load_part(path)
        assert part.resource_ids == [resource_id or "" for resource_id in expected]
        analyzer = word_analyzer()
        assert _stems_of(part) == [
            [] if resource_id is None else analyze(resources[resource_id], analyzer).forward_sequence()
            for resource_id in expected]
    assert kept_rounds and merged_rounds  # both ways through the realignment were taken
