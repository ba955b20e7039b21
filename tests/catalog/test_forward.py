"""The forward index: exact phrases and prefixes, realignment after incremental commits, spelling."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from whoosh.filedb.filestore import FileStorage

from marketplace.catalog import forward, index_store, merging
from marketplace.catalog.forward import ForwardIndex, ForwardMismatchError
from marketplace.catalog.index_store import apply_changes, build_index, read_manifest
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


def test_incremental_commits_keep_phrases_aligned(content_dir: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(merging, "MERGE_FACTOR", 2)
    resources = {r.id: r for r in load_catalog(content_dir).resources}
    path = tmp_path / "index"
    build_index(path, resources.values(), workers=1)
    changed = dataclasses.replace(resources["fractions-pizza"], title="Fractions with chocolate cake",
                                  content_hash="changed")
    apply_changes(path, [changed], ["plant-cells"])
    apply_changes(path, [dataclasses.replace(changed, content_hash="again")], [])
    assert len(index_store.segment_sizes(path)) == 3  # a re-index merges nothing
    # One step: the emptied segment (the first change, changed again) dropped, the two others merged.
    assert index_store.compact(path) == 1
    assert len(index_store.segment_sizes(path)) == 1
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


@pytest.mark.parametrize("seed", range(6))
def test_a_commit_that_only_appends_takes_the_short_way_to_the_same_arrays(seed: int) -> None:
    """No segment merged: the previous documents stay in place (updated and deleted ones emptied) and the new
    segment's come after them. The short way must give what the general rebuild gives, new stems or not."""
    rng = np.random.default_rng(seed)
    words = [f"w{number}" for number in range(40)]

    def sequence(vocabulary: list[str]) -> list[str]:
        return [vocabulary[k] if k < len(vocabulary) else "" for k in
                rng.integers(0, len(vocabulary) + 4, int(rng.integers(0, 12)))]

    ids = [f"r{number}" for number in range(30)]
    previous = forward.encode_part(ids, [sequence(words[:30]) for _ in ids])
    previous.resource_ids[3] = ""  # a document deleted in an earlier generation
    fresh_vocabulary = words if seed % 2 else words[:30]  # odd seeds bring stems the previous arrays lack
    changed = rng.choice(ids, 5, replace=False).tolist()
    deleted = {rid for rid in ids if rng.random() < 0.15} - set(changed)
    fresh = {rid: sequence(fresh_vocabulary) for rid in [*changed, "new-1", "new-2"]}
    docnum_ids: list[str | None] = [None if rid in fresh or rid in deleted or rid == "r3" else rid for rid in ids]
    docnum_ids += list(fresh)
    appended = forward._appended_generation(previous, docnum_ids, fresh)
    assert appended is not None  # the short way was taken
    general = forward._gathered_generation(previous, docnum_ids, fresh)
    assert appended.vocabulary == general.vocabulary
    assert appended.tokens.tolist() == general.tokens.tolist()
    assert appended.lengths.tolist() == general.lengths.tolist()
    assert appended.resource_ids == general.resource_ids == [rid or "" for rid in docnum_ids]
    assert appended.tokens.dtype == np.int32 and appended.lengths.dtype == np.int64
    assert _stems_of(appended) == _rebuilt_slowly(previous, docnum_ids, fresh)
    # Anything else (a document moved, or a new one that is not fresh) goes the general way.
    assert forward._appended_generation(previous, [*docnum_ids[1:], docnum_ids[0]], fresh) is None
    assert forward._appended_generation(previous, [*docnum_ids, None], fresh) is None
    assert forward._appended_generation(previous, docnum_ids[:10], fresh) is None


def test_the_forward_index_stays_aligned_through_kept_and_merged_segments(content_dir: Path, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """apply_changes reuses the ids of segments a commit kept and reads only new or merged ones: after each of
    many commits, every document's stems must equal its resource's, in the index's own document order. Merges
    come from both policies: a re-index past the segment limit, and compaction every third round."""
    monkeypatch.setattr(merging, "FOREGROUND_SEGMENT_LIMIT", 6)
    monkeypatch.setattr(merging, "MERGE_FACTOR", 3)
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
        if round_number % 3 == 2:
            index_store.compact(path)
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


def _assert_matches_the_index(path: Path, resources: dict[str, Any]) -> None:
    """Every document's stems equal its resource's, in the index's own document order, and the forward files
    name the generation they match."""
    from whoosh.filedb.filestore import FileStorage

    from marketplace.catalog.schema import analyze, word_analyzer

    ix = FileStorage(str(path)).open_index()
    with ix.searcher() as searcher:
        reader = searcher.reader()
        expected = [None if reader.is_deleted(docnum) else resource_id
                    for docnum, resource_id in enumerate(reader.column_reader("id"))]
    assert sorted(resource_id for resource_id in expected if resource_id) == sorted(resources)
    part = forward.load_part(path)
    assert part.resource_ids == [resource_id or "" for resource_id in expected]
    analyzer = word_analyzer()
    assert _stems_of(part) == [[] if resource_id is None else analyze(resources[resource_id], analyzer)
                               .forward_sequence() for resource_id in expected]
    assert forward.saved_generation(path) == ix.latest_generation()


def _small_catalog(content_dir: Path, count: int) -> tuple[Any, dict[str, Any]]:
    template = load_catalog(content_dir).resources[0]
    return template, {f"res-{n:03d}": dataclasses.replace(template, id=f"res-{n:03d}", title=f"Topic {n} title",
                                                          description=f"About item {n}", content_hash=str(n))
                      for n in range(count)}


def test_a_commit_whose_forward_files_were_never_written_is_repaired_by_the_next(
    content_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process stopped between Whoosh's commit and the forward files' save leaves files of the generation
    before. Here that commit merged its small segment (dropping a deleted document) and added one, so the
    index holds as many documents as the stale files list, in another order. The next commit must not trust
    their numbers (it deletes by id and reads the ids from Whoosh), and must leave files that match again."""
    template, resources = _small_catalog(content_dir, 6)
    path = tmp_path / "index"
    build_index(path, resources.values(), workers=1)
    for number in range(4):  # five small segments
        early = dataclasses.replace(template, id=f"res-early-{number}", title=f"Early {number}", content_hash="e")
        resources[early.id] = early
        apply_changes(path, [early], [])
    _assert_matches_the_index(path, resources)
    real_save = forward.save

    def stopped(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(forward, "save", stopped)
    monkeypatch.setattr(merging, "FOREGROUND_SEGMENT_LIMIT", 1)  # the commit merges every segment into its own
    added = dataclasses.replace(template, id="res-new", title="Added later", content_hash="z")
    with pytest.raises(KeyboardInterrupt):
        apply_changes(path, [added], ["res-002"])
    monkeypatch.setattr(forward, "save", real_save)
    ix = FileStorage(str(path)).open_index()
    assert forward.saved_generation(path) != ix.latest_generation()  # Whoosh committed, the arrays did not
    with ix.searcher() as searcher:
        now = list(searcher.reader().column_reader("id"))
    stale = forward.load_part(path).resource_ids
    assert len(now) == len(stale) and now != stale  # as many documents, renumbered
    # The manifest is written last, so it still has the stopped commit's changes to do: `sync_index` sends
    # them again with the next ones.
    manifest = read_manifest(path)
    assert "res-new" not in manifest and "res-002" in manifest
    changed = dataclasses.replace(resources["res-004"], title="Renamed fourth", content_hash="y")
    resources.update({added.id: added, changed.id: changed})
    del resources["res-002"], resources["res-005"]
    apply_changes(path, [added, changed], ["res-002", "res-005"])
    _assert_matches_the_index(path, resources)


def test_an_aligned_commit_deletes_by_document_number(
    content_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With matching forward files a commit never looks an id up in Whoosh (1.8 ms a document); without them
    (an index an older release wrote) it does, and writes files that match."""
    from marketplace.catalog import index_store

    _, resources = _small_catalog(content_dir, 12)
    path = tmp_path / "index"
    build_index(path, resources.values(), workers=1)
    looked_up: list[str] = []
    real_writer = index_store._writer

    def counting_writer(*args: Any, **kwargs: Any) -> Any:
        writer = real_writer(*args, **kwargs)
        real_delete = writer.delete_by_term
        writer.delete_by_term = lambda field, text, *rest: looked_up.append(text) or real_delete(field, text, *rest)
        return writer

    monkeypatch.setattr(index_store, "_writer", counting_writer)
    changed = dataclasses.replace(resources["res-003"], title="Changed third", content_hash="c")
    resources["res-003"] = changed
    del resources["res-004"]
    apply_changes(path, [changed], ["res-004"])
    assert looked_up == []
    _assert_matches_the_index(path, resources)
    (path / forward.GENERATION_FILE).unlink()  # as an older release left it
    changed = dataclasses.replace(resources["res-006"], title="Changed sixth", content_hash="d")
    resources["res-006"] = changed
    del resources["res-008"]
    apply_changes(path, [changed], ["res-008"])
    assert sorted(looked_up) == ["res-006", "res-008"]
    _assert_matches_the_index(path, resources)
