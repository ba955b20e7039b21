"""Every use of Whoosh's private internals, in one module, for one exact version of whoosh-reloaded.

Two things Whoosh's public API cannot do fast enough: read a term's posting blocks whole as arrays (facet
counts over 100,000 resources; see postings.py), and commit segments written by forked worker processes
(parallel index builds; see index_store.py). Both need names Whoosh keeps private, as does cancelling a
writer without leaving its segment's files behind. They live here only;
pyproject.toml pins whoosh-reloaded to PINNED_VERSION, and tests/catalog/test_whoosh_internals.py fails
loudly, naming the missing internal, if an upgrade changes any of them. Everything else uses the public API.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Final

from whoosh.codec.whoosh3 import LENGTHS_COLUMN, W3LeafMatcher

PINNED_VERSION: Final = "2.7.5"
"""The whoosh-reloaded release these internals were read from (pyproject pins it)."""


def is_block_matcher(matcher: Any) -> bool:
    """Whether `matcher` is the whoosh3 codec's leaf matcher, whose blocks `posting_blocks` can read."""
    return type(matcher) is W3LeafMatcher


def posting_blocks(matcher: Any) -> Iterator[tuple[Any, Any, bool]]:
    """Each block of a W3LeafMatcher as (raw ids, raw weights, ids are absolute rather than deltas)."""
    while True:
        if matcher._data is None:
            matcher._read_data()
        yield matcher._data[0], matcher._data[1], bool(matcher._byteids)
        if matcher._lastblock:
            return
        matcher._next_block()


def term_table(reader: Any) -> Any | None:
    """A segment reader's term table (whose `matcher` skips the reader's wrappers), or None."""
    return getattr(reader, "_terms", None)


def per_document_reader(reader: Any) -> Any:
    """A segment reader's per-document reader (stored fields, lengths)."""
    return reader._perdoc


def length_column_bytes(per_document: Any, field: str) -> bytes | None:
    """A segment's byte-coded lengths of `field`, one byte per document, in one read."""
    column = per_document._cached_reader(f"_{field}_len", LENGTHS_COLUMN)
    if column is None:
        return None
    return bytes(column._dbfile.get(column._basepos, column._count))


def finalize_segment(writer: Any) -> Any:
    """Close a worker's writer and hand back its segment, for the parent process to commit."""
    return writer._finalize_segment()


def commit_segments(parent: Any, segments: Sequence[Any]) -> None:
    """Commit the workers' segments through the parent writer that holds the index lock."""
    parent._close_segment()
    parent._commit_toc(list(segments))
    parent._finish()


def cancel_and_remove_segment(writer: Any) -> None:
    """Cancel a segment writer and remove the files of the segment it had begun. Whoosh's own `cancel` leaves
    them on disk until a later commit sweeps files it does not know; a re-index that failed every time would
    never get there. They are removed before the index lock is released, so no other writer's files can be
    among them (Whoosh's `cancel` is `_close_segment` then `_finish`, which releases the lock)."""
    segment = writer.newsegment.segment_id()
    storage = writer.storage
    writer._close_segment()
    try:
        for name in list(storage.list()):
            if name.startswith(segment + "."):
                storage.delete_file(name)
    finally:
        writer._finish()
