"""Writing the Whoosh index: full parallel builds, incremental changes, and the manifest of what it holds.

The index is a replica of the database's catalog: every host rebuilds or syncs its own copy. Beside the
Whoosh files lives `manifest.json` (resource id -> content hash) so a sync can tell what changed without
reading 100,000 stored documents, and a `STAMP` that changes on every commit so open searchers notice.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from whoosh import index as whoosh_index
from whoosh.codec.whoosh3 import W3Codec
from whoosh.filedb.filestore import FileStorage
from whoosh.reading import SegmentReader
from whoosh.util.numeric import byte_to_length
from whoosh.writing import SegmentWriter

from marketplace.catalog import forward, merging
from marketplace.catalog.analysis import ANALYSIS_VERSION
from marketplace.catalog.forward import ForwardPart
from marketplace.catalog.postings import length_codes
from marketplace.catalog.resource import Resource
from marketplace.catalog.schema import analyze, build_schema, to_document, word_analyzer
from marketplace.catalog.whoosh_internals import cancel_and_remove_segment, commit_segments, finalize_segment

MANIFEST = "manifest.json"
STAMP = "STAMP"
ANALYSIS_FILE = "analysis.version"
WRITER_MEMORY_MB = 256  # per worker; past it Whoosh spills postings to disk (64 cost a third more time)
PARALLEL_FROM = 2000  # resources; below this, forking workers costs more than it saves
FEED_BATCH = 250  # resources per batch sent to a worker: small enough that little waits in the pipes
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


def manifest_json(manifest: dict[str, str]) -> str:
    """The manifest as compact JSON. Ids and hashes are plain ASCII with nothing to escape, so the text is
    joined in C; `json.dumps` walked 100,000 entries one by one (0.09 s of every re-index). Anything that
    would need escaping goes through `json.dumps`."""
    every = "".join(manifest) + "".join(manifest.values())
    if not manifest or not every.isascii() or not every.isprintable() or '"' in every or "\\" in every:
        return json.dumps(manifest, separators=(",", ":"))
    return '{"' + '","'.join(map('":"'.join, manifest.items())) + '"}'


def _write_manifest_and_stamp(path: Path, manifest: dict[str, str]) -> None:
    temporary = path / f"{MANIFEST}.tmp"
    temporary.write_text(manifest_json(manifest), encoding="utf-8")
    os.replace(temporary, path / MANIFEST)
    stamp = path / f"{STAMP}.tmp"
    stamp.write_text(uuid.uuid4().hex)
    os.replace(stamp, path / STAMP)


class _SegmentFiller:
    """Adds resources to one segment writer, analysing each once, and keeps its part of the forward index."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer
        self._analyzer = word_analyzer()
        self._ids: list[str] = []
        self._sequences: list[list[str]] = []

    def add(self, resource: Resource) -> None:
        analyzed = analyze(resource, self._analyzer)
        self.writer.add_document(**to_document(resource, analyzed))
        self._ids.append(resource.id)
        self._sequences.append(analyzed.forward_sequence())

    def forward_part(self) -> ForwardPart:
        return forward.encode_part(self._ids, self._sequences)


def _batches(items: Iterator[Resource], size: int) -> Iterator[list[Resource]]:
    # itertools.batched arrives with Python 3.12; the project supports 3.11.
    while batch := list(itertools.islice(items, size)):
        yield batch


def _index_fed(path: str, conn: Connection) -> None:
    """Worker process: index the batches the parent sends (until None) into a segment of its own, and send
    the segment and its forward part back."""
    ix = whoosh_index.open_dir(path)
    filler = _SegmentFiller(_writer(ix, lock=False))
    while (batch := conn.recv()) is not None:
        for resource in batch:
            filler.add(resource)
    conn.send((finalize_segment(filler.writer), filler.forward_part()))
    conn.close()


def build_index(
    path: Path, resources: Iterable[Resource], *, workers: int | None = None, progress: Progress | None = None
) -> int:
    """Build a fresh index at `path` from `resources`, replacing any index there; returns the count.

    `resources` is read once, as a stream: a large catalog is never held whole in this process (the database
    pages it in; 100,000 resources held at once were most of a gigabyte). Whoosh's own MpWriter pickles every
    document through temporary files and still makes its parent compete with the workers; here forked workers
    are fed batches over pipes and each writes one segment, so two cores give close to twice the speed.
    """
    stream = iter(resources)
    first = list(itertools.islice(stream, PARALLEL_FROM))
    manifest: dict[str, str] = {}
    building = path.with_name(path.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    try:
        count = _build_into(building, first, stream, manifest, workers=workers, progress=progress)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)  # a half-built copy of a large index is hundreds of MB
        raise
    retired = path.with_name(path.name + ".old")
    shutil.rmtree(retired, ignore_errors=True)
    if path.exists():
        os.replace(path, retired)
    os.replace(building, path)
    shutil.rmtree(retired, ignore_errors=True)
    return count


def _build_into(building: Path, first: list[Resource], stream: Iterator[Resource], manifest: dict[str, str], *,
                workers: int | None, progress: Progress | None) -> int:
    """The whole index written into the empty folder `building`; returns the count."""
    ix = whoosh_index.create_in(str(building), build_schema())
    workers = workers or min(os.cpu_count() or 1, 4)
    if workers > 1 and len(first) >= PARALLEL_FROM and "fork" in multiprocessing.get_all_start_methods():
        part = _build_with_processes(ix, building, itertools.chain(first, stream), workers, manifest, progress)
    else:
        filler = _SegmentFiller(_writer(ix))
        for resource in itertools.chain(first, stream):
            filler.add(resource)
            manifest[resource.id] = resource.content_hash
            if progress and len(manifest) % 500 == 0:
                progress(500)
        if progress and len(manifest) % 500:
            progress(len(manifest) % 500)
        filler.writer.commit()
        part = filler.forward_part()
    forward.save(building, part, _open_unmapped(building).latest_generation())
    (building / ANALYSIS_FILE).write_text(ANALYSIS_VERSION)
    _write_manifest_and_stamp(building, manifest)
    return len(manifest)


def _build_with_processes(ix: Any, building: Path, resources: Iterator[Resource], workers: int,
                          manifest: dict[str, str], progress: Progress | None) -> ForwardPart:
    """Fork `workers` segment writers first (while this process is small), then deal them the stream in
    batches, in turn: the same catalog always gives the same segments, whatever the timing."""
    context = multiprocessing.get_context("fork")
    parent = SegmentWriter(ix, codec=_codec())  # holds the index lock while the workers write segments
    feeds: list[tuple[Any, Connection]] = []
    try:
        for _ in range(workers):
            ours, theirs = context.Pipe(duplex=True)
            process = context.Process(target=_index_fed, args=(str(building), theirs))
            process.start()
            theirs.close()
            feeds.append((process, ours))
        for number, batch in enumerate(_batches(resources, FEED_BATCH)):
            for resource in batch:
                manifest[resource.id] = resource.content_hash
            feeds[number % workers][1].send(batch)
            if progress:
                progress(len(batch))
        segments = []
        parts = []
        for _, conn in feeds:
            conn.send(None)
        for process, conn in feeds:
            segment, part = conn.recv()
            segments.append(segment)
            parts.append(part)
            process.join()
            if process.exitcode != 0:
                raise RuntimeError(f"an index worker failed with exit code {process.exitcode}")
        commit_segments(parent, segments)
    except BaseException:
        parent.cancel()
        for process, _ in feeds:
            if process.is_alive():
                process.kill()
            process.join()
        raise
    finally:
        for _, conn in feeds:
            conn.close()
    # Segments are committed in worker order, so the parts concatenate in document-number order.
    return forward.merge_parts(parts)


def _open_unmapped(path: Path) -> Any:
    """The index at `path`, read through its files rather than memory maps. With maps, Whoosh copies every
    part of a segment it opens into a BytesIO (its BufferFile): opening the writer's searcher over 100,000
    resources took 220 MB and 0.17 s. The served index opens the same way (index_state.py)."""
    return FileStorage(str(path), supports_mmap=False).open_index()


def _segment_starts(segments: Sequence[Any], documents: int) -> dict[tuple[str, int], int]:
    """(segment id, documents) -> the segment's first document number, for the segments of the generation
    the forward index was written for; empty when the forward index does not match them."""
    starts: dict[tuple[str, int], int] = {}
    base = 0
    for segment in segments:
        count = segment.doc_count_all()
        starts[(segment.segment_id(), count)] = base
        base += count
    return starts if base == documents else {}


def _docnum_ids(reader: Any, kept_from: dict[tuple[str, int], int], previous_ids: Sequence[str]) -> list[str | None]:
    """Each document's resource id in the generation `reader` reads (None for a deleted one).

    A segment the commit kept has the same documents in the same order as before, so its ids are taken from
    the previous generation's list (`kept_from` says where). Only a new or merged segment is read from the
    index's id column: reading all 100,000 ids through Whoosh's column reader was a tenth of re-indexing a few
    files. Deletions come from each segment's deleted-document set, which a commit updates in place."""
    ids: list[str | None] = []
    for leaf, _base in reader.leaf_readers():
        segment = leaf.segment()
        count = segment.doc_count_all()
        start = kept_from.get((segment.segment_id(), count))
        part: list[str | None] = (list(previous_ids[start:start + count]) if start is not None
                                  else list(leaf.column_reader("id")))
        for docnum in segment.deleted_docs():
            part[docnum] = None
        ids.extend(part)
    return ids


def _remover(writer: Any, resource_ids: Sequence[str] | None) -> Callable[[str], None]:
    """Deletes a resource's document. By its number, when `resource_ids` lists the committed generation's
    documents (what `update_document` does costs a term lookup in every segment: 1.8 ms a document, most of
    a re-index's Whoosh work for 100 changed files); else by its id term."""
    if resource_ids is None:
        return lambda resource_id: writer.delete_by_term("id", resource_id)
    numbers = {resource_id: number for number, resource_id in enumerate(resource_ids) if resource_id}

    def remove(resource_id: str) -> None:
        number = numbers.pop(resource_id, None)
        if number is not None:
            writer.delete_document(number)

    return remove


def apply_changes(path: Path, upserts: Sequence[Resource], deletions: Iterable[str], *,
                  manifest: dict[str, str] | None = None) -> None:
    """Update or add `upserts` and remove `deletions` (ids) in one commit. `manifest`: the index's manifest
    when the caller has just read it (it is updated in place and written back). The commit merges no segment
    unless the index holds too many (merging.py); compaction merges them, off the re-index's path."""
    upserts = list(upserts)
    _commit(path, upserts, deletions, manifest,
            lambda sizes: merging.foreground_plan(sizes, adds_segment=bool(upserts)))


def segment_sizes(path: Path) -> list[merging.SegmentSize]:
    """The committed segments of the index at `path`, as the merge policy sees them."""
    return _sizes(_open_unmapped(path)._segments())


def _sizes(segments: Iterable[Any]) -> list[merging.SegmentSize]:
    return [merging.SegmentSize(segment.segment_id(), segment.doc_count_all(), segment.deleted_count())
            for segment in segments]


def forward_is_aligned(path: Path) -> bool:
    """Whether the forward files match the index's committed generation (a stopped commit leaves them behind)."""
    generation: int = _open_unmapped(path).latest_generation()
    return forward.saved_generation(path) == generation


def compact(path: Path, *, steps: int = 100) -> int:
    """Run compaction steps (merging.compaction_plan) on the index at `path` until it needs none, at most
    `steps` of them, after realigning forward files a stopped commit left behind; returns how many commits
    it made. The caller holds the host's index lock."""
    made = 0
    if not forward_is_aligned(path):
        _commit(path, [], [], None, lambda _sizes: merging.MergePlan())
        made += 1
    while made < steps and merging.compaction_plan(segment_sizes(path)):
        _commit(path, [], [], None, merging.compaction_plan)
        made += 1
    return made


def _merge_by(plan: merging.MergePlan) -> Callable[[Any, list[Any]], list[Any]]:
    """A Whoosh merge policy (a `mergetype`) that carries out `plan`."""

    def merge(writer: Any, segments: list[Any]) -> list[Any]:
        kept = []
        for segment in segments:
            if segment.segment_id() in plan.merged:
                reader = SegmentReader(writer.storage, writer.schema, segment)
                try:
                    writer.add_reader(reader)
                finally:
                    reader.close()
            elif segment.segment_id() not in plan.dropped:
                kept.append(segment)
        return kept

    return merge


def _commit(path: Path, upserts: Sequence[Resource], deletions: Iterable[str], manifest: dict[str, str] | None,
            plan_for: Callable[[list[merging.SegmentSize]], merging.MergePlan]) -> None:
    """One commit of changes, merging what `plan_for` says of the segments as they stand, with the forward
    index realigned and the manifest and stamp written after it."""
    manifest = read_manifest(path) if manifest is None else manifest
    previous = forward.load_part(path)
    analyzer = word_analyzer()
    ix = _open_unmapped(path)
    writer = _writer(ix)
    # When the forward files match the committed generation, they know each document's number and id: the
    # kept segments' ids are reused, and a document is deleted by its number. Otherwise (an older release's
    # index, a stopped commit) both are read from Whoosh, as it finds them.
    aligned = forward.saved_generation(path) == ix.latest_generation()
    kept_from = _segment_starts(writer.segments, len(previous.resource_ids)) if aligned else {}
    remove = _remover(writer, previous.resource_ids if kept_from else None)
    fresh: dict[str, list[str]] = {}
    try:
        for resource_id in deletions:
            remove(resource_id)
            manifest.pop(resource_id, None)
        for resource in upserts:
            analyzed = analyze(resource, analyzer)
            remove(resource.id)
            writer.add_document(**to_document(resource, analyzed))
            fresh[resource.id] = analyzed.forward_sequence()
            manifest[resource.id] = resource.content_hash
        # Planned on the sizes after this commit's deletions, which Whoosh marks on the writer's segments in
        # place: a segment they emptied is dropped, not read.
        plan = plan_for(_sizes(writer.segments))
    except BaseException:
        cancel_and_remove_segment(writer)
        raise
    writer.commit(mergetype=_merge_by(plan))
    # Document numbers may have moved (merged segments drop deleted documents): realign the forward index.
    with _open_unmapped(path).searcher() as searcher:
        docnum_ids = _docnum_ids(searcher.reader(), kept_from, previous.resource_ids)
    forward.save(path, forward.rebuild_for_generation(previous, docnum_ids, fresh), writer.generation)
    _write_manifest_and_stamp(path, manifest)
