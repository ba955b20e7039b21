"""Posting lists as sorted numpy arrays of global document numbers, with a bounded cache.

Facet counts need the whole match set of a query. Whoosh yields it one document at a time through nested
Python matchers (the reason naive faceting costs ~185 ms at 100,000 resources); reading each term's posting
blocks whole and combining them as arrays costs a few milliseconds. Reading blocks touches the whoosh3
codec's leaf matcher internals (through whoosh_internals.py), so every other matcher kind (and any
future codec) falls back to the public `all_ids()`; tests check both paths agree.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np
import numpy.typing as npt

from marketplace.catalog.whoosh_internals import is_block_matcher, length_column_bytes, posting_blocks, term_table

DocArray = npt.NDArray[np.int32]
EMPTY: DocArray = np.zeros(0, dtype=np.int32)
DEFAULT_CACHE_BYTES = 48 * 1024 * 1024


WeightArray = npt.NDArray[np.float32]
EMPTY_WEIGHTS: WeightArray = np.zeros(0, dtype=np.float32)
Postings = tuple[DocArray, WeightArray]


def _leaf_postings(matcher: Any) -> Postings:
    if is_block_matcher(matcher):
        id_blocks: list[DocArray] = []
        weight_blocks: list[WeightArray] = []
        for raw_ids, raw_weights, absolute in posting_blocks(matcher):
            ids = np.asarray(raw_ids, dtype=np.int64)
            # Ids are delta-encoded unless the codec stored them as raw bytes.
            id_blocks.append((ids if absolute else np.cumsum(ids)).astype(np.int32))
            # Weights: None means all 1.0, a float means all equal, else one per posting.
            if raw_weights is None or isinstance(raw_weights, float):
                weight_blocks.append(np.full(len(ids), 1.0 if raw_weights is None else raw_weights, np.float32))
            else:
                weight_blocks.append(np.asarray(raw_weights, dtype=np.float32))
        if len(id_blocks) == 1:
            return id_blocks[0], weight_blocks[0]
        return np.concatenate(id_blocks), np.concatenate(weight_blocks)
    ids_list: list[int] = []
    weights_list: list[float] = []
    while matcher.is_active():
        ids_list.append(matcher.id())
        weights_list.append(matcher.weight())
        matcher.next()
    return np.asarray(ids_list, dtype=np.int32), np.asarray(weights_list, dtype=np.float32)


def length_codes(per_document_reader: Any, field: str, count: int) -> npt.NDArray[np.uint8]:
    """One segment's byte-coded field lengths (Whoosh's `length_to_byte`) for all `count` documents,
    read as one block from the lengths column rather than one file read per document."""
    codes = np.zeros(count, dtype=np.uint8)
    column = length_column_bytes(per_document_reader, field)
    if column is not None:
        raw = np.frombuffer(column, dtype=np.uint8)
        codes[: min(len(raw), count)] = raw[:count]
    return codes


def read_postings(searcher: Any, field: str, term: str | bytes, *, use_blocks: bool = True) -> Postings:
    """Global document numbers (deleted ones included) containing `term` in `field`, and the weights."""
    id_parts: list[DocArray] = []
    weight_parts: list[WeightArray] = []
    subsearchers = searcher.subsearchers or [(searcher, 0)]
    for sub, offset in subsearchers:
        reader = sub.reader()
        terms = term_table(reader)
        key = (field, term if isinstance(term, bytes) else reader.schema[field].to_bytes(term))
        if terms is None or not use_blocks:
            if key not in reader:
                continue
            ids, weights = _leaf_postings(reader.postings(field, key[1]))
        else:
            if key not in terms:
                continue
            ids, weights = _leaf_postings(terms.matcher(key[0], key[1], reader.schema[field].format))
        id_parts.append(ids + offset if offset else ids)
        weight_parts.append(weights)
    if not id_parts:
        return EMPTY, EMPTY_WEIGHTS
    if len(id_parts) == 1:
        return id_parts[0], weight_parts[0]
    return np.concatenate(id_parts), np.concatenate(weight_parts)


class PostingsCache:
    """An LRU of decoded posting arrays, bounded in bytes; one per open index generation."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._bytes = 0
        self._entries: OrderedDict[tuple[str, str], Postings] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, searcher: Any, field: str, term: str) -> Postings:
        key = (field, term)
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found
        postings = read_postings(searcher, field, term)
        for array in postings:
            array.setflags(write=False)
        size = postings[0].nbytes + postings[1].nbytes
        with self._lock:
            if key not in self._entries and size <= self.max_bytes // 4:
                self._entries[key] = postings
                self._bytes += size
                while self._bytes > self.max_bytes:
                    _, (ids, weights) = self._entries.popitem(last=False)
                    self._bytes -= ids.nbytes + weights.nbytes
        return postings
