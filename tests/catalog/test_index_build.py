"""The full index build in worker processes, fed the catalog as a stream: the same index as one process
builds, read once from a generator, and a worker's failure leaves the previous index in place."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from whoosh.filedb.filestore import FileStorage

from marketplace.catalog import forward, index_store
from marketplace.catalog.index_store import build_index, read_manifest
from marketplace.catalog.loader import load_catalog
from marketplace.catalog.resource import Resource
from marketplace.catalog.search import CatalogIndex
from marketplace.catalog.search_types import SearchRequest
from tests.conftest import PROJECT_DIR

QUERIES = ("photosynthesis", "fractions", "the french revolution", "volcanoes", "poetry for kids", "")


def bundled() -> list[Resource]:
    return load_catalog(PROJECT_DIR / "content", workers=1).resources


def answers(path: Path) -> list[tuple[int, set[str], dict[str, dict[str, int]]]]:
    catalog = CatalogIndex(path)
    catalog.open()
    try:
        found = []
        for text in QUERIES:
            result = catalog.search(SearchRequest(text=text, per_page=50))
            found.append((result.total, {hit.id for hit in result.hits}, result.facets))
        return found
    finally:
        catalog.close()


def once(resources: list[Resource]) -> Iterator[Resource]:
    yield from resources  # a generator: it can be read only once, as the database's stream


def test_workers_fed_a_stream_build_the_index_one_process_builds(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    resources = bundled()
    assert build_index(tmp_path / "alone", resources, workers=1) == len(resources)
    monkeypatch.setattr(index_store, "PARALLEL_FROM", 50)
    monkeypatch.setattr(index_store, "FEED_BATCH", 7)  # many batches, dealt in turn, a short last one
    counted: list[int] = []
    assert build_index(tmp_path / "together", once(resources), workers=2, progress=counted.append) == len(resources)
    assert sum(counted) == len(resources)
    assert read_manifest(tmp_path / "together") == read_manifest(tmp_path / "alone")
    assert answers(tmp_path / "together") == answers(tmp_path / "alone")
    for built in ("alone", "together"):  # the forward files name the generation they match: re-indexes trust them
        generation = FileStorage(str(tmp_path / built)).open_index().latest_generation()
        assert forward.saved_generation(tmp_path / built) == generation


def test_a_failing_worker_fails_the_build_and_keeps_the_index_that_was_there(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    resources = bundled()
    build_index(tmp_path / "index", resources, workers=1)
    before = answers(tmp_path / "index")
    monkeypatch.setattr(index_store, "PARALLEL_FROM", 50)
    original = index_store._SegmentFiller.add

    def add(self: index_store._SegmentFiller, resource: Resource) -> None:
        if resource.id == resources[300].id:
            raise RuntimeError("a worker fails")  # in the forked worker, which inherits this patch
        original(self, resource)

    monkeypatch.setattr(index_store._SegmentFiller, "add", add)
    with pytest.raises((RuntimeError, EOFError, BrokenPipeError, ConnectionResetError)):
        build_index(tmp_path / "index", once(resources[::-1]), workers=2)
    assert answers(tmp_path / "index") == before


def test_resources_with_their_thumbnails_cross_to_the_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What `marketplace index` feeds the workers: resources carrying their made thumbnails, streamed."""
    from marketplace.catalog.thumbnails import LocalThumbnail, indexed_hash, iter_with_pictures

    resources = bundled()
    pictured = {resources[10].id: LocalThumbnail(resources[10].id, "ab" * 32, 320, 180)}
    build_index(tmp_path / "alone", iter_with_pictures(resources, pictured), workers=1)
    monkeypatch.setattr(index_store, "PARALLEL_FROM", 50)
    build_index(tmp_path / "together", iter_with_pictures(resources, pictured), workers=2)
    manifest = read_manifest(tmp_path / "together")
    assert manifest == read_manifest(tmp_path / "alone")
    first, second = resources[10], resources[11]
    assert manifest[first.id] == indexed_hash(first.content_hash, pictured[first.id])  # the thumbnail counts
    assert manifest[second.id] == indexed_hash(second.content_hash, None) != manifest[first.id]


@pytest.mark.parametrize("manifest", [
    {},
    {"photosynthesis-basics": "0f3a" * 16 + ".p1", "plant-cells": "9b" * 32 + ".p1.0123456789ab"},
    {'say "hi"': "a"},  # a quote in an id: escaped, never joined raw
    {"back\\slash": "b"},
    {"line\nbreak": "c", "tab": "d\te"},
    {"caf\u00e9": "\u2713"},
])
def test_the_manifest_is_json_that_reads_back_as_written(manifest: dict[str, str]) -> None:
    from marketplace.catalog.index_store import manifest_json

    text = manifest_json(manifest)
    assert json.loads(text) == manifest
    assert text == json.dumps(manifest, separators=(",", ":"))  # the same bytes as before, whichever way


def test_a_failed_build_or_reindex_leaves_no_files_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A build that fails removes its half-built copy (at 100,000 resources, hundreds of MB); a re-index that
    fails removes the segment it had begun (Whoosh's cancel leaves it until some later commit sweeps it, and a
    re-index failing every time never commits). Either way the index that was there answers as before."""
    resources = bundled()
    path = tmp_path / "index"
    build_index(path, resources, workers=1)
    before = answers(path)
    files = sorted(item.name for item in path.iterdir())

    def failing(count: int) -> Iterator[Resource]:
        yield from resources[:count]
        raise RuntimeError("the database went away")

    for count, workers in ((10, 1), (120, 2)):
        monkeypatch.setattr(index_store, "PARALLEL_FROM", 50)
        with pytest.raises(RuntimeError, match="went away"):
            build_index(path, failing(count), workers=workers)
        assert sorted(item.name for item in tmp_path.iterdir()) == ["index"]  # no index.building left
    with pytest.raises(RuntimeError, match="went away"):
        index_store.apply_changes(path, _failing_sequence(resources[:5]), [])
    assert sorted(item.name for item in path.iterdir()) == files
    assert answers(path) == before


class _failing_sequence(list[Resource]):  # noqa: N801 - reads as what it is at the call
    """A list whose iteration fails after its items, as a database stream that breaks mid-way."""

    def __iter__(self) -> Iterator[Resource]:
        yield from super().__iter__()
        raise RuntimeError("the database went away")
