"""Writing the Whoosh index: full parallel builds, incremental changes, and the manifest of what it holds.

The index is a replica of the database's catalog: every host rebuilds or syncs its own copy. Beside the
Whoosh files lives `manifest.json` (resource id -> content hash) so a sync can tell what changed without
reading 100,000 stored documents, and a `STAMP` that changes on every commit so open searchers notice.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from whoosh import index as whoosh_index
from whoosh.codec.whoosh3 import W3Codec
from whoosh.util.numeric import byte_to_length
from whoosh.writing import SegmentWriter

from marketplace.catalog import forward
from marketplace.catalog.analysis import ANALYSIS_VERSION
from marketplace.catalog.forward import ForwardPart
from marketplace.catalog.postings import length_codes
from marketplace.catalog.resource import Resource
from marketplace.catalog.schema import analyze, build_schema, to_document, word_analyzer
from marketplace.catalog.whoosh_internals import commit_segments, finalize_segment

MANIFEST = "manifest.json"
STAMP = "STAMP"
ANALYSIS_FILE = "analysis.version"
WRITER_MEMORY_MB = 1024
Progress = Callable[[int], None]


def _codec() -> W3Codec:
    # No zlib on posting blocks: without positions they are small pickles that compress little, and
    # compressing them costs 6% of a build (the index grows by about a sixth; it is read, not mapped).
    return W3Codec(compression=0)


class _BlockLengths:
    """`doc_field_length` served from whole length columns loaded once per field.

    Whoosh asks for a document's field length once per posting while writing a segment, each time a
    file read through several layers: a tenth of the build at 100,000 resources.
    """

    def __init__(self, reader: Any) -> None:
        self._reader = reader
        self._lengths: dict[str, list[int]] = {}

    def doc_field_length(self, docnum: int, fieldname: str, default: int = 0) -> int:
        lengths = self._lengths.get(fieldname)
        if lengths is None:
            codes = length_codes(self._reader, fieldname, self._reader.doc_count_all())
            lengths = self._lengths[fieldname] = [byte_to_length(code) for code in codes.tolist()]
        return lengths[docnum] if docnum < len(lengths) else default

    def close(self) -> None:
        self._reader.close()


class _CatalogSegmentWriter(SegmentWriter):  # type: ignore[misc]
    """Whoosh's segment writer, with field lengths read in blocks when the postings are written."""

    def _flush_segment(self) -> None:
        self.perdocwriter.close()
        lengths = _BlockLengths(self.per_document_reader())
        try:
            self.fieldwriter.add_postings(self.schema, lengths, self.pool.iter_postings())
            self.fieldwriter.close()
        finally:
            lengths.close()


def _writer(ix: Any, *, lock: bool = True) -> _CatalogSegmentWriter:
    return _CatalogSegmentWriter(ix, _lk=lock, codec=_codec(), limitmb=WRITER_MEMORY_MB)


def index_exists(path: Path) -> bool:
    """Whether a usable index (with its manifest) is at `path`."""
    return path.is_dir() and whoosh_index.exists_in(str(path)) and (path / MANIFEST).is_file()


def analysis_is_current(path: Path) -> bool:
    """Whether the index at `path` was built with today's text analysis (queries analyse the same way)."""
    try:
        return (path / ANALYSIS_FILE).read_text().strip() == ANALYSIS_VERSION
    except OSError:
        return False


def read_stamp(path: Path) -> str | None:
    """The stamp of the last commit, or None when there is no index."""
    try:
        return (path / STAMP).read_text().strip()
    except OSError:
        return None


def read_manifest(path: Path) -> dict[str, str]:
    """Resource id -> content hash of what the index holds."""
    with (path / MANIFEST).open(encoding="utf-8") as handle:
        data: dict[str, str] = json.load(handle)
    return data


def _write_manifest_and_stamp(path: Path, manifest: dict[str, str]) -> None:
    temporary = path / f"{MANIFEST}.tmp"
    temporary.write_text(json.dumps(manifest, separators=(",", ":")), encoding="utf-8")
    os.replace(temporary, path / MANIFEST)
    stamp = path / f"{STAMP}.tmp"
    stamp.write_text(uuid.uuid4().hex)
    os.replace(stamp, path / STAMP)


def _index_resources(writer: Any, resources: Sequence[Resource], progress: Progress | None = None) -> ForwardPart:
    """Analyse each resource once, add it to `writer`, and return its part of the forward index."""
    analyzer = word_analyzer()
    sequences: list[list[str]] = []
    for number, resource in enumerate(resources, start=1):
        analyzed = analyze(resource, analyzer)
        writer.add_document(**to_document(resource, analyzed))
        sequences.append(analyzed.forward_sequence())
        if progress and number % 500 == 0:
            progress(500)
    if progress and len(resources) % 500:
        progress(len(resources) % 500)
    return forward.encode_part([resource.id for resource in resources], sequences)


def _index_slice(path: str, resources: Sequence[Resource], start: int, stop: int, conn: Connection) -> None:
    """Worker process: index resources[start:stop] into a segment of its own and send it back."""
    ix = whoosh_index.open_dir(path)
    writer = _writer(ix, lock=False)
    part = _index_resources(writer, resources[start:stop])
    conn.send((finalize_segment(writer), part))
    conn.close()


def build_index(
    path: Path, resources: Iterable[Resource], *, workers: int | None = None, progress: Progress | None = None
) -> int:
    """Build a fresh index at `path` from `resources`, replacing any index there; returns the count.

    Whoosh's own MpWriter pickles every document through temporary files and still makes its parent
    process compete with the workers; here forked workers read their slice straight from the parent's
    memory and each writes one segment, so two cores give close to twice the speed.
    """
    items = list(resources)
    manifest = {resource.id: resource.content_hash for resource in items}
    building = path.with_name(path.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    ix = whoosh_index.create_in(str(building), build_schema())
    workers = workers or min(os.cpu_count() or 1, 4)
    if workers > 1 and len(items) >= 2000 and "fork" in multiprocessing.get_all_start_methods():
        part = _build_with_processes(ix, building, items, workers)
        if progress:
            progress(len(items))
    else:
        writer = _writer(ix)
        part = _index_resources(writer, items, progress)
        writer.commit()
    forward.save(building, part)
    (building / ANALYSIS_FILE).write_text(ANALYSIS_VERSION)
    _write_manifest_and_stamp(building, manifest)
    retired = path.with_name(path.name + ".old")
    shutil.rmtree(retired, ignore_errors=True)
    if path.exists():
        os.replace(path, retired)
    os.replace(building, path)
    shutil.rmtree(retired, ignore_errors=True)
    return len(items)


def _build_with_processes(ix: Any, building: Path, resources: list[Resource], workers: int) -> ForwardPart:
    context = multiprocessing.get_context("fork")
    parent = SegmentWriter(ix, codec=_codec())  # holds the index lock while the workers write segments
    try:
        chunk = -(-len(resources) // workers)
        pipes: list[tuple[Any, Connection]] = []
        for start in range(0, len(resources), chunk):
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(
                target=_index_slice, args=(str(building), resources, start, start + chunk, sender)
            )
            process.start()
            sender.close()
            pipes.append((process, receiver))
        segments = []
        parts = []
        for process, receiver in pipes:
            segment, part = receiver.recv()
            segments.append(segment)
            parts.append(part)
            process.join()
            if process.exitcode != 0:
                raise RuntimeError(f"an index worker failed with exit code {process.exitcode}")
        commit_segments(parent, segments)
    except BaseException:
        parent.cancel()
        raise
    # Segments are committed in worker order, so the parts concatenate in document-number order.
    return forward.merge_parts(parts)


def apply_changes(path: Path, upserts: Sequence[Resource], deletions: Iterable[str]) -> None:
    """Update or add `upserts` and remove `deletions` (ids) in one commit."""
    manifest = read_manifest(path)
    previous = forward.load_part(path)
    analyzer = word_analyzer()
    ix = whoosh_index.open_dir(str(path))
    writer = _writer(ix)
    fresh: dict[str, list[str]] = {}
    try:
        for resource_id in deletions:
            writer.delete_by_term("id", resource_id)
            manifest.pop(resource_id, None)
        for resource in upserts:
            analyzed = analyze(resource, analyzer)
            writer.update_document(**to_document(resource, analyzed))
            fresh[resource.id] = analyzed.forward_sequence()
            manifest[resource.id] = resource.content_hash
    except BaseException:
        writer.cancel()
        raise
    writer.commit()
    # Document numbers may have moved (merged segments drop deleted documents): realign the forward index.
    with whoosh_index.open_dir(str(path)).searcher() as searcher:
        reader = searcher.reader()
        alive = set(reader.all_doc_ids())
        docnum_ids = [
            resource_id if docnum in alive else None
            for docnum, resource_id in enumerate(reader.column_reader("id"))
        ]
    forward.save(path, forward.rebuild_for_generation(previous, docnum_ids, fresh))
    _write_manifest_and_stamp(path, manifest)
