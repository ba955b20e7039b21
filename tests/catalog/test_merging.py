"""Bounded merging: a re-index merges nothing (below the segment limit), and compaction, in a child process
or from `marketplace index --compact`, merges segments of one size level, drops emptied ones, rewrites worn
ones, realigns forward files a stopped commit left behind, and leaves an index that answers as before."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from whoosh.filedb.filestore import FileStorage

from marketplace.catalog import forward, index_store, merging
from marketplace.catalog.compaction import compact_in_child, compact_now, needs_compaction
from marketplace.catalog.index_store import apply_changes, build_index, read_stamp, segment_sizes
from marketplace.catalog.loader import load_catalog
from marketplace.catalog.merging import MergePlan, SegmentSize, compaction_plan, foreground_plan
from marketplace.catalog.replica import CatalogReplica
from marketplace.catalog.search import CatalogIndex
from marketplace.catalog.search_types import SearchRequest
from tests.catalog.test_forward import _assert_matches_the_index

QUERIES = ("topic", "item 3", '"changed title"', "about", "")


def sizes(*shapes: tuple[int, int]) -> list[SegmentSize]:
    return [SegmentSize(f"s{number:02d}", documents, deleted) for number, (documents, deleted) in enumerate(shapes)]


# -- the plans -------------------------------------------------------------------------------------------------

def test_ten_segments_of_one_level_merge_and_nine_do_not() -> None:
    assert not compaction_plan(sizes(*[(100, 0)] * 9, (50_000, 10), (50_000, 10)))
    plan = compaction_plan(sizes(*[(100, 0)] * 10, (50_000, 10)))
    assert plan.merged == {f"s{number:02d}" for number in range(10)} and not plan.dropped


def test_the_smallest_level_goes_first_and_only_its_smallest_ten() -> None:
    shapes = [(5000, 0)] * 10 + [(150, 0)] * 11 + [(40, 0)] * 3
    plan = compaction_plan(sizes(*shapes))
    # Levels: 40 (three), 150 (eleven), 5000 (ten). The 150s are the smallest full level; ten of its eleven.
    assert len(plan.merged) == 10 and plan.merged <= {f"s{number:02d}" for number in range(10, 21)}


def test_emptied_segments_are_dropped_without_merging_anything() -> None:
    plan = compaction_plan(sizes((100, 100), (50_000, 3), (100, 100), (7, 0)))
    assert plan.dropped == {"s00", "s02"} and not plan.merged and plan


def test_large_segments_merge_only_when_worn() -> None:
    # Ten segments of 30,000: one level, but merged they would pass MAX_MERGED_DOCUMENTS.
    assert not compaction_plan(sizes(*[(30_000, 0)] * 10))
    plan = compaction_plan(sizes((50_000, 20_000), (50_000, 26_000), (50_000, 25_000)))
    assert plan.merged == {"s01"}  # the most deleted of those past half deleted, rewritten alone


def test_a_reindex_merges_nothing_until_the_limit() -> None:
    below = sizes(*[(100, 100)] * (merging.FOREGROUND_SEGMENT_LIMIT - 1))
    assert not foreground_plan(below, adds_segment=True)  # even emptied segments are left to compaction


@given(st.lists(st.tuples(st.integers(1, 5000), st.integers(0, 5000)).map(lambda t: (t[0], min(t[0], t[1]))),
                min_size=0, max_size=120),
       st.booleans())
def test_past_the_limit_a_reindex_brings_the_count_back_to_it(shapes: list[tuple[int, int]], adds: bool) -> None:
    segments = sizes(*shapes)
    plan = foreground_plan(segments, adds_segment=adds)
    kept = len(segments) - len(plan.merged) - len(plan.dropped)
    made = 1 if adds or plan.merged else 0
    before = len(segments) + (1 if adds else 0)
    assert kept + made <= max(merging.FOREGROUND_SEGMENT_LIMIT, 0) or before <= merging.FOREGROUND_SEGMENT_LIMIT
    if before <= merging.FOREGROUND_SEGMENT_LIMIT:
        assert plan == MergePlan()
    assert not plan.merged & plan.dropped
    assert all(segment.live > 0 for segment in segments if segment.segment_id in plan.merged)


# -- on a real index -------------------------------------------------------------------------------------------

def _catalog(content_dir: Path, count: int) -> tuple[Any, dict[str, Any]]:
    template = load_catalog(content_dir).resources[0]
    return template, {f"res-{n:03d}": dataclasses.replace(template, id=f"res-{n:03d}", title=f"Topic {n} title",
                                                          description=f"About item {n}", content_hash=str(n))
                      for n in range(count)}


def _answers(path: Path) -> list[tuple[int, list[str]]]:
    catalog = CatalogIndex(path)
    catalog.open()
    try:
        found = []
        for text in QUERIES:
            result = catalog.search(SearchRequest(text=text, per_page=100))
            found.append((result.total, sorted(hit.id for hit in result.hits)))
        return found
    finally:
        catalog.close()


def _churned(content_dir: Path, path: Path, commits: int) -> dict[str, Any]:
    """An index after `commits` re-indexes of one changed and one added resource each."""
    template, resources = _catalog(content_dir, 30)
    build_index(path, resources.values(), workers=1)
    for number in range(commits):
        changed = dataclasses.replace(resources[f"res-{number % 30:03d}"], title=f"Changed title {number}",
                                      content_hash=f"c{number}")
        added = dataclasses.replace(template, id=f"add-{number:03d}", title=f"Added topic {number}",
                                    content_hash="a")
        resources.update({changed.id: changed, added.id: added})
        apply_changes(path, [changed, added], [])
    return resources


def test_reindexes_merge_nothing_below_the_limit_and_stop_at_it(content_dir: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    resources = _churned(content_dir, tmp_path / "index", 24)
    # Whoosh's own policy (MERGE_SMALL) would have merged these small segments several times over.
    assert len(segment_sizes(tmp_path / "index")) == 25
    _assert_matches_the_index(tmp_path / "index", resources)
    monkeypatch.setattr(merging, "FOREGROUND_SEGMENT_LIMIT", 8)
    resources = _churned(content_dir, tmp_path / "limited", 24)
    assert len(segment_sizes(tmp_path / "limited")) == 8
    _assert_matches_the_index(tmp_path / "limited", resources)


def test_compaction_merges_and_answers_as_before(content_dir: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(merging, "MERGE_FACTOR", 4)
    path = tmp_path / "index"
    resources = _churned(content_dir, path, 14)
    build_index(tmp_path / "fresh", resources.values(), workers=1)
    before, stamp = _answers(path), read_stamp(path)
    assert before == _answers(tmp_path / "fresh")
    assert needs_compaction(path)
    made = index_store.compact(path)
    assert made >= 1 and not needs_compaction(path)
    assert len(segment_sizes(path)) < 15 and read_stamp(path) != stamp
    assert _answers(path) == before  # phrases too: the forward files were realigned
    _assert_matches_the_index(path, resources)
    assert all(segment.live > 0 for segment in segment_sizes(path))


def test_compaction_realigns_forward_files_a_stopped_commit_left(content_dir: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A compaction stopped between Whoosh's commit and the forward files (a worker's child ended by a
    shutdown) leaves files a generation behind, which no search can load; the next compaction realigns them
    before anything else. (A stopped re-index is repaired by the next sync, which sends its changes again.)"""
    path = tmp_path / "index"
    resources = _churned(content_dir, path, 12)
    before = _answers(path)

    def stopped(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(forward, "save", stopped)
    with pytest.raises(KeyboardInterrupt):
        index_store.compact(path)
    monkeypatch.undo()
    assert not index_store.forward_is_aligned(path) and needs_compaction(path)
    assert compact_now(path) == 1  # Whoosh had committed the merge: only the realignment is left
    _assert_matches_the_index(path, resources)
    assert not needs_compaction(path) and _answers(path) == before


def test_compaction_waits_for_the_index_lock(content_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "index"
    _churned(content_dir, path, 10)  # ten segments of 2 documents: one merge due
    from marketplace.catalog.sync import index_lock

    with index_lock(path):
        assert compact_now(path) is None  # `marketplace index` or another worker holds it: the next check
    assert len(segment_sizes(path)) == 11
    assert compact_now(path) == 1 and len(segment_sizes(path)) == 2


class _Replica(CatalogReplica):
    def __init__(self, index_dir: Path, catalog: CatalogIndex) -> None:
        super().__init__(None, index_dir, catalog)  # type: ignore[arg-type]  # compaction reads no database


def test_the_replica_compacts_in_a_child_and_loads_the_result(content_dir: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "index"
    _churned(content_dir, path, 12)  # twelve segments of 2 documents: one level of ten, and more
    before = _answers(path)
    catalog = CatalogIndex(path)
    catalog.open()
    try:
        stamp = catalog._state.stamp
        replica = _Replica(path, catalog)
        assert asyncio.run(replica.compact()) is True
        assert replica.compactions == 1 and catalog._state.stamp != stamp  # the worker loaded the result
        assert len(segment_sizes(path)) < 13
        assert asyncio.run(replica.compact()) is False  # nothing left to do
        assert catalog.search(SearchRequest(text='"changed title"')).total == 12
    finally:
        catalog.close()
    assert _answers(path) == before


def test_a_stop_ends_the_child_and_the_next_compaction_finishes(content_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "index"
    resources = _churned(content_dir, path, 12)

    async def stopped_at_once() -> bool:
        stop = asyncio.Event()
        stop.set()
        return await compact_in_child(path, stop)

    assert asyncio.run(stopped_at_once()) is False
    assert asyncio.run(compact_in_child(path)) is True
    _assert_matches_the_index(path, resources)
    generation = FileStorage(str(path)).open_index().latest_generation()
    assert forward.saved_generation(path) == generation and not needs_compaction(path)


def test_a_failed_compaction_is_logged_and_waits_before_the_next_try(content_dir: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    from marketplace.catalog import compaction, replica
    from marketplace.metrics import metrics

    def counted(outcome: str) -> float:
        return metrics().index_compactions.labels(outcome)._value.get()  # type: ignore[attr-defined, no-any-return]

    failed, compacted = counted("failed"), counted("compacted")
    path = tmp_path / "index"
    _churned(content_dir, path, 10)
    catalog = CatalogIndex(path)
    catalog.open()
    try:
        monkeypatch.setattr(compaction.sys, "executable", "/bin/false")  # a child that fails at once
        checks: list[Path] = []
        monkeypatch.setattr(replica, "needs_compaction", lambda index_dir: checks.append(index_dir) or True)
        own = _Replica(path, catalog)
        with caplog.at_level("WARNING", logger="marketplace.catalog"):
            assert asyncio.run(own.compact()) is False
        assert "catalog index not compacted (next try in 600 s)" in caplog.text and "status 1" in caplog.text
        assert asyncio.run(own.compact()) is False and len(checks) == 1  # not tried again yet
        monkeypatch.undo()
        own._compaction_retry_at = 0.0  # ten minutes later
        assert asyncio.run(own.compact()) is True and own.compactions == 1
        assert (counted("failed"), counted("compacted")) == (failed + 1, compacted + 1)
    finally:
        catalog.close()


def test_a_child_that_answers_no_count_is_a_failed_compaction(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from marketplace.catalog import compaction

    monkeypatch.setattr(compaction.sys, "executable", "/bin/echo")  # exits 0, printing its arguments
    with pytest.raises(compaction.CompactionFailedError, match="not a count"):
        asyncio.run(compact_in_child(tmp_path / "index"))
