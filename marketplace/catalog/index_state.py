"""One open generation of the catalog index and what is derived from it when it opens: the Whoosh searcher,
the forward index, facet codes per document, field lengths; and what is derived on first use (title order,
spelling dictionary)."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from whoosh.filedb.filestore import FileStorage
from whoosh.util.numeric import byte_to_length

from marketplace.catalog.forward import ForwardIndex, ForwardMismatchError
from marketplace.catalog.index_store import analysis_is_current, index_exists, read_stamp
from marketplace.catalog.postings import PostingsCache, length_codes
from marketplace.catalog.schema import STEMMED_FIELDS
from marketplace.catalog.search_types import (
    IndexMissingError,
    Mask,
)
from marketplace.catalog.spelling import SpellingDictionary
from marketplace.catalog.vocabulary import FACETS, GRADE_LEVELS
from marketplace.catalog.whoosh_internals import per_document_reader

LOAD_ATTEMPTS = 20
CODED_FACETS = {"subject": "subject", "type": "type", "license": "license"}
SCORED_FIELDS = (*STEMMED_FIELDS, "author")
_BYTE_TO_LENGTH = np.asarray([byte_to_length(value) for value in range(256)], dtype=np.float32)


@dataclass(slots=True)
class IndexState:
    """One open generation of the index and everything derived from it."""

    stamp: str | None
    searcher: Any
    size: int
    alive: Mask
    codes: dict[str, npt.NDArray[np.int16]]
    grade_bits: npt.NDArray[np.uint8]
    forward: ForwardIndex | None = None
    spelling: SpellingDictionary | None = None
    lengths: dict[str, npt.NDArray[np.float32]] = field(default_factory=dict)
    average_lengths: dict[str, float] = field(default_factory=dict)
    postings: PostingsCache = field(default_factory=PostingsCache)
    prefixes: OrderedDict[str, list[tuple[str, str]]] = field(default_factory=OrderedDict)
    title_order: npt.NDArray[np.int32] | None = None
    surfaces: dict[str, str] = field(default_factory=dict)


def load_state(path: Path) -> IndexState:
    """Open the newest generation; retried while a commit is between its Whoosh and forward files."""
    for attempt in range(LOAD_ATTEMPTS):
        if not index_exists(path):
            raise IndexMissingError(f"There is no catalog index at {path}; run `marketplace index`.")
        try:
            return _load_once(path)
        except ForwardMismatchError:
            if attempt == LOAD_ATTEMPTS - 1:
                raise
            time.sleep(0.05)
    raise AssertionError("unreachable")


def _load_once(path: Path) -> IndexState:
    # Plain reads instead of mmap: the index's pages stay in the OS page cache, shared and reclaimable,
    # rather than counting as this process's resident memory (searches are serialised anyway).
    stamp = read_stamp(path)
    if not analysis_is_current(path):
        raise IndexMissingError(f"The catalog index at {path} was built by an older version of the "
                                "search; run `marketplace index` to rebuild it.")
    ix = FileStorage(str(path), supports_mmap=False).open_index()
    searcher = ix.searcher()
    size = searcher.reader().doc_count_all()
    alive = np.zeros(size, dtype=np.bool_)
    alive[np.fromiter(searcher.reader().all_doc_ids(), dtype=np.int64, count=searcher.doc_count())] = True
    state = IndexState(stamp, searcher, size, alive, {}, np.zeros(size, dtype=np.uint8))
    try:
        state.forward = ForwardIndex.load(path, size)
        _check_alignment(searcher, state.forward, alive)
        if read_stamp(path) != stamp:
            raise ForwardMismatchError("a commit landed while the index was opening")
    except (ForwardMismatchError, OSError, ValueError):
        searcher.close()
        raise ForwardMismatchError("the index is being written") from None
    for facet, field_name in CODED_FACETS.items():
        codes = np.full(size, -1, dtype=np.int16)
        for ordinal, value in enumerate(FACETS[facet]):
            codes[state.postings.get(searcher, field_name, value)[0]] = ordinal
        state.codes[facet] = codes
    for bit, level in enumerate(GRADE_LEVELS):
        state.grade_bits[state.postings.get(searcher, "grade", level)[0]] |= np.uint8(1 << bit)
    for name in SCORED_FIELDS:
        state.lengths[name] = _field_lengths(searcher, name, size)
        state.average_lengths[name] = searcher.avg_field_length(name) or 1.0
    return state


def title_order(state: IndexState) -> npt.NDArray[np.int32]:
    if state.title_order is None:
        reader = state.searcher.reader()
        if reader.doc_count_all() == 0:  # an empty index's reader has no columns at all
            state.title_order = np.zeros(0, dtype=np.int32)
            return state.title_order
        keys = np.asarray(list(reader.column_reader("title_sort")), dtype=object)
        state.title_order = np.argsort(keys.astype(bytes), kind="stable").astype(np.int32)
    return state.title_order


def spelling_of(state: IndexState) -> SpellingDictionary:
    if state.spelling is None:
        forward = state.forward
        assert forward is not None  # noqa: S101 - set by _load
        state.spelling = SpellingDictionary(forward.vocabulary, forward.counts)
    return state.spelling


def _field_lengths(searcher: Any, field_name: str, size: int) -> npt.NDArray[np.float32]:
    """Every document's (quantised) length in `field_name`, as Whoosh's scorer sees it."""
    # An index with no documents (every catalog file refused) has an empty reader without per-document
    # columns: it contributes no lengths rather than stopping the app from starting.
    parts = [
        _BYTE_TO_LENGTH[length_codes(per_document_reader(sub.reader()), field_name, sub.reader().doc_count_all())]
        for sub, _offset in searcher.subsearchers or [(searcher, 0)]
        if sub.reader().doc_count_all() > 0
    ]
    lengths = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    return lengths[:size]


def _check_alignment(searcher: Any, forward: ForwardIndex, alive: Mask) -> None:
    """Spot-check that the forward index's documents are this generation's (same ids at sampled numbers)."""
    living = np.flatnonzero(alive)
    if not len(living):
        return
    for docnum in np.linspace(0, len(living) - 1, num=min(16, len(living)), dtype=np.int64):
        number = int(living[docnum])
        if searcher.stored_fields(number).get("id") != forward.resource_ids[number]:
            raise ForwardMismatchError("the forward index belongs to another generation")
