"""The forward index: every resource's words (stems) in order, as one flat array of vocabulary ids.

Whoosh answers "which documents contain this term" well, but phrases and prefixes need the opposite view.
Its phrase matcher walks positions one document at a time (seconds for two common words at 100,000
resources), and a short prefix expands to thousands of terms. Here the stems of every resource sit in one
int32 array, with ids given in alphabetical order of the stems, so:

- a phrase is a vectorised comparison of shifted slices of the array (a few milliseconds for any words);
- a prefix is a contiguous id range, so one pair of comparisons finds every word that starts with it.

Sources (title, description, author, each keyword) are separated by BOUNDARY so no phrase spans two.
The arrays are aligned with one generation of the Whoosh index (its document numbers) and rewritten on
every commit; `ids.json` maps document numbers back to resource ids so an incremental commit can reuse
what did not change.
"""

from __future__ import annotations

import bisect
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

BOUNDARY = -1
TOKENS_FILE = "forward.tokens.npy"
OFFSETS_FILE = "forward.offsets.npy"
VOCABULARY_FILE = "forward.vocabulary.txt"
IDS_FILE = "forward.ids.json"
# The Whoosh generation (TOC number) the arrays were written for. An incremental commit trusts the stored ids'
# document numbers only when it matches: a process stopped between Whoosh's commit and `save` leaves arrays of
# the generation before, which could hold as many documents as the new one.
GENERATION_FILE = "forward.generation"
GATHER_BLOCK = 4096  # documents whose tokens a rebuild gathers at once

IntArray = npt.NDArray[np.int32]
Mask = npt.NDArray[np.bool_]


class ForwardMismatchError(RuntimeError):
    """The forward files belong to another generation of the index (a commit is under way)."""


@dataclass(slots=True)
class ForwardPart:
    """Stems of a run of consecutive documents, with ids local to `vocabulary`."""

    vocabulary: list[str]
    tokens: IntArray
    lengths: npt.NDArray[np.int64]
    resource_ids: list[str]


def encode_part(resource_ids: Sequence[str], sequences: Sequence[Sequence[str]]) -> ForwardPart:
    """Turn per-document stem sequences (with "" as a source boundary) into a part."""
    vocabulary = sorted({stem for sequence in sequences for stem in sequence if stem})
    position = {stem: number for number, stem in enumerate(vocabulary)}
    position[""] = BOUNDARY
    flat = [position[stem] for sequence in sequences for stem in sequence]
    return ForwardPart(
        vocabulary,
        np.asarray(flat, dtype=np.int32),
        np.asarray([len(sequence) for sequence in sequences], dtype=np.int64),
        list(resource_ids),
    )


def merge_parts(parts: Sequence[ForwardPart]) -> ForwardPart:
    """Concatenate parts (in document order) over one shared, sorted vocabulary."""
    vocabulary = sorted(set().union(*(part.vocabulary for part in parts))) if parts else []
    position = {stem: number for number, stem in enumerate(vocabulary)}
    tokens: list[IntArray] = []
    for part in parts:
        # remap[local id] -> global id; the extra last slot maps BOUNDARY (-1) to itself.
        remap = np.asarray([position[stem] for stem in part.vocabulary] + [BOUNDARY], dtype=np.int32)
        tokens.append(remap[part.tokens])
    return ForwardPart(
        vocabulary,
        np.concatenate(tokens) if tokens else np.zeros(0, dtype=np.int32),
        np.concatenate([part.lengths for part in parts]) if parts else np.zeros(0, dtype=np.int64),
        [resource_id for part in parts for resource_id in part.resource_ids],
    )


def save(path: Path, part: ForwardPart, generation: int) -> None:
    """Write the forward index files into the index folder (before its STAMP changes), for the Whoosh
    `generation` they are aligned with."""
    offsets = np.zeros(len(part.lengths) + 1, dtype=np.int64)
    np.cumsum(part.lengths, out=offsets[1:])
    writes: list[tuple[str, bytes | IntArray | npt.NDArray[np.int64]]] = [
        (VOCABULARY_FILE, "\n".join(part.vocabulary).encode("utf-8")),
        (IDS_FILE, json.dumps(part.resource_ids, separators=(",", ":")).encode("utf-8")),
        (TOKENS_FILE, part.tokens),
        (OFFSETS_FILE, offsets),
    ]
    # The generation goes first (the files are being replaced) and is written again last: a stop half way
    # leaves no generation that the files could be taken to match.
    (path / GENERATION_FILE).unlink(missing_ok=True)
    writes.append((GENERATION_FILE, str(generation).encode("ascii")))
    for name, data in writes:  # each file appears whole: readers never see a half-written one
        temporary = path / f"{name}.tmp"
        with temporary.open("wb") as handle:
            if isinstance(data, bytes):
                handle.write(data)
            else:
                np.save(handle, data)  # straight to the file (through a buffer first, 26 MB were copied twice)
        os.replace(temporary, path / name)


def saved_generation(path: Path) -> int | None:
    """The Whoosh generation the forward files were written for (None: unknown, or a save did not finish)."""
    try:
        return int((path / GENERATION_FILE).read_text(encoding="ascii"))
    except (OSError, ValueError):
        return None


def load_part(path: Path) -> ForwardPart:
    offsets = np.load(path / OFFSETS_FILE)
    text = (path / VOCABULARY_FILE).read_text(encoding="utf-8")
    return ForwardPart(
        text.split("\n") if text else [],
        np.load(path / TOKENS_FILE),
        np.diff(offsets),
        json.loads((path / IDS_FILE).read_text(encoding="utf-8")),
    )


def rebuild_for_generation(
    previous: ForwardPart, docnum_ids: Sequence[str | None], fresh: Mapping[str, Sequence[str]]
) -> ForwardPart:
    """The forward index of a new generation: `docnum_ids` lists each document's resource id (None for a
    deleted one); changed resources take their sequence from `fresh`, the rest are reused."""
    appended = _appended_generation(previous, docnum_ids, fresh)
    return appended if appended is not None else _gathered_generation(previous, docnum_ids, fresh)


def _appended_generation(
    previous: ForwardPart, docnum_ids: Sequence[str | None], fresh: Mapping[str, Sequence[str]]
) -> ForwardPart | None:
    """The new generation when the commit kept every previous document in place and added its new ones after
    them (no segment was merged, as in most commits of a few changes): the previous arrays less the deleted
    documents' tokens, then the new ones. None when the commit did anything else. The same result as
    `_gathered_generation`, without finding each document's slice: at 100,000 resources 0.06-0.10 s, against
    0.14-0.32 s for the gather."""
    count = len(previous.resource_ids)
    added = docnum_ids[count:]
    if len(docnum_ids) < count or any(resource_id is None or resource_id not in fresh for resource_id in added):
        return None
    if any(new is not None and (new != old or new in fresh)
           for old, new in zip(previous.resource_ids, docnum_ids[:count], strict=False)):
        return None
    added_ids = [resource_id for resource_id in added if resource_id is not None]
    fresh_part = encode_part(added_ids, [fresh[resource_id] for resource_id in added_ids])
    kept = np.fromiter((resource_id is not None for resource_id in docnum_ids[:count]), dtype=np.bool_,
                       count=count)
    old_tokens = previous.tokens[np.repeat(kept, previous.lengths)]
    known = set(previous.vocabulary)
    missing = [stem for stem in fresh_part.vocabulary if stem not in known]
    vocabulary = sorted(previous.vocabulary + missing) if missing else previous.vocabulary
    position = {stem: number for number, stem in enumerate(vocabulary)}
    if missing:  # new stems shift the ids of the stems after them
        old_remap = np.asarray([position[stem] for stem in previous.vocabulary] + [BOUNDARY], dtype=np.int32)
        old_tokens = old_remap[old_tokens]
    new_remap = np.asarray([position[stem] for stem in fresh_part.vocabulary] + [BOUNDARY], dtype=np.int32)
    return ForwardPart(
        list(vocabulary),
        np.concatenate([old_tokens, new_remap[fresh_part.tokens]]).astype(np.int32, copy=False),
        np.concatenate([np.where(kept, previous.lengths, 0), fresh_part.lengths]).astype(np.int64, copy=False),
        [resource_id or "" for resource_id in docnum_ids],
    )


def _gathered_generation(
    previous: ForwardPart, docnum_ids: Sequence[str | None], fresh: Mapping[str, Sequence[str]]
) -> ForwardPart:
    """The general case (segments merged, documents renumbered): each document's slice is found again."""
    old_offsets = np.zeros(len(previous.lengths) + 1, dtype=np.int64)
    np.cumsum(previous.lengths, out=old_offsets[1:])
    old_docnum = {resource_id: number for number, resource_id in enumerate(previous.resource_ids)}
    fresh_part = encode_part(list(fresh), list(fresh.values()))
    vocabulary = sorted(set(previous.vocabulary).union(fresh_part.vocabulary))
    position = {stem: number for number, stem in enumerate(vocabulary)}
    old_remap = np.asarray([position[stem] for stem in previous.vocabulary] + [BOUNDARY], dtype=np.int32)
    new_remap = np.asarray([position[stem] for stem in fresh_part.vocabulary] + [BOUNDARY], dtype=np.int32)
    # Both generations' tokens in one array (old, then fresh), remapped to the new vocabulary in place: each
    # document of the new generation is one slice of it. Slicing and concatenating 100,000 arrays one by one
    # was a tenth of re-indexing a few files; the slices are now gathered a block of documents at a time,
    # so the index arrays stay small (a gather of every token at once took 80 MB more).
    fresh_base = len(previous.tokens)
    combined = np.empty(fresh_base + len(fresh_part.tokens), dtype=np.int32)
    np.take(old_remap, previous.tokens, out=combined[:fresh_base])
    np.take(new_remap, fresh_part.tokens, out=combined[fresh_base:])
    fresh_starts = np.zeros(len(fresh_part.lengths) + 1, dtype=np.int64)
    np.cumsum(fresh_part.lengths, out=fresh_starts[1:])
    fresh_docnum = {resource_id: number for number, resource_id in enumerate(fresh_part.resource_ids)}
    old_start, old_size = old_offsets.tolist(), previous.lengths.tolist()
    fresh_start, fresh_size = fresh_starts.tolist(), fresh_part.lengths.tolist()
    starts: list[int] = []
    sizes: list[int] = []
    for resource_id in docnum_ids:
        number = None if resource_id is None else fresh_docnum.get(resource_id)
        if number is not None:
            starts.append(fresh_base + fresh_start[number])
            sizes.append(fresh_size[number])
            continue
        number = None if resource_id is None else old_docnum.get(resource_id)
        starts.append(0 if number is None else old_start[number])
        sizes.append(0 if number is None else old_size[number])
    lengths = np.asarray(sizes, dtype=np.int64)
    begins = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=begins[1:])
    source = np.asarray(starts, dtype=np.int64)
    tokens = np.empty(int(begins[-1]), dtype=np.int32)
    for first in range(0, len(lengths), GATHER_BLOCK):
        last = min(first + GATHER_BLOCK, len(lengths))
        # Token k of the new array, in document d, is at source[d] + (k - begins[d]) of `combined`.
        block = np.repeat(source[first:last] - begins[first:last], lengths[first:last])
        block += np.arange(begins[first], begins[last], dtype=np.int64)
        np.take(combined, block, out=tokens[begins[first]:begins[last]])
    return ForwardPart(
        vocabulary,
        tokens,
        lengths,
        [resource_id or "" for resource_id in docnum_ids],
    )


class ForwardIndex:
    """The loaded arrays, with phrase and prefix matching."""

    def __init__(self, part: ForwardPart, size: int) -> None:
        if len(part.lengths) != size or int(part.lengths.sum()) != len(part.tokens):
            raise ForwardMismatchError(f"the forward index has {len(part.lengths)} documents, the index {size}")
        self.resource_ids = part.resource_ids
        self.vocabulary = part.vocabulary
        self.tokens = part.tokens
        self.size = size
        lengths = part.lengths[:size]
        # The document number of every token position, and how often each stem occurs.
        self.documents = np.repeat(np.arange(len(lengths), dtype=np.int32), lengths)
        words = self.tokens[self.tokens >= 0]
        self.counts = np.bincount(words, minlength=len(self.vocabulary)).astype(np.int64)
        self._index_titles(lengths)

    def _index_titles(self, lengths: npt.NDArray[np.int64]) -> None:
        """A compact copy of the titles alone (the first source of each document), so that "the title is
        exactly the query" and "the query is a phrase in the title" cost a scan of titles, not of everything."""
        starts = np.zeros(len(lengths), dtype=np.int64)
        if len(lengths) > 1:
            np.cumsum(lengths[:-1], out=starts[1:])
        # Every stored sequence has a boundary right after its title; empty (deleted) documents get length 0.
        boundaries = np.flatnonzero(self.tokens == BOUNDARY)
        if len(boundaries):
            ends = boundaries[np.minimum(np.searchsorted(boundaries, starts), len(boundaries) - 1)]
        else:
            ends = starts
        self.title_lengths = np.where(lengths > 0, ends - starts, 0).astype(np.int64)
        self.title_starts = np.zeros(len(lengths), dtype=np.int64)
        if len(lengths) > 1:
            np.cumsum(self.title_lengths[:-1], out=self.title_starts[1:])
        position_in_document = np.arange(len(self.tokens), dtype=np.int64) - np.repeat(starts, lengths)
        in_title = position_in_document < np.repeat(self.title_lengths, lengths)
        self.title_tokens = self.tokens[in_title]
        self.title_documents = self.documents[in_title]

    def title_matches(self, stems: Sequence[str]) -> tuple[Mask, Mask]:
        """(documents whose title is exactly `stems`, documents whose title holds them in a row)."""
        exact = np.zeros(self.size, dtype=np.bool_)
        contains = np.zeros(self.size, dtype=np.bool_)
        ids = [self.word_id(stem) for stem in stems]
        width = len(ids)
        if not ids or any(word is None for word in ids) or len(self.title_tokens) < width:
            return exact, contains
        span = len(self.title_tokens) - width + 1
        hits = self.title_tokens[:span] == ids[0]
        for shift, word in enumerate(ids[1:], start=1):
            hits &= self.title_tokens[shift : shift + span] == word
        positions = np.flatnonzero(hits)
        documents = self.title_documents[positions]
        same_title = self.title_documents[positions + width - 1] == documents
        positions, documents = positions[same_title], documents[same_title]
        contains[documents] = True
        whole = (positions == self.title_starts[documents]) & (self.title_lengths[documents] == width)
        exact[documents[whole]] = True
        return exact, contains

    @classmethod
    def load(cls, path: Path, size: int) -> ForwardIndex:
        return cls(load_part(path), size)

    def word_id(self, stem: str) -> int | None:
        position = bisect.bisect_left(self.vocabulary, stem)
        if position < len(self.vocabulary) and self.vocabulary[position] == stem:
            return position
        return None

    def _mask_of_positions(self, positions: npt.NDArray[np.intp]) -> Mask:
        mask = np.zeros(self.size, dtype=np.bool_)
        mask[self.documents[positions]] = True
        return mask

    def phrase(self, stems: Sequence[str]) -> Mask:
        """Documents where the stems occur consecutively within one source."""
        ids = [self.word_id(stem) for stem in stems]
        if not stems or any(word is None for word in ids) or len(self.tokens) < len(ids):
            return np.zeros(self.size, dtype=np.bool_)
        span = len(self.tokens) - len(ids) + 1
        hits = self.tokens[:span] == ids[0]
        for shift, word in enumerate(ids[1:], start=1):
            hits &= self.tokens[shift : shift + span] == word
        return self._mask_of_positions(np.flatnonzero(hits))

    def prefix_range(self, prefix: str) -> tuple[int, int]:
        """The id range of the stems starting with `prefix`."""
        low = bisect.bisect_left(self.vocabulary, prefix)
        high = bisect.bisect_left(self.vocabulary, prefix + "\U0010ffff")
        return low, high

    def prefix(self, prefix: str) -> Mask:
        """Documents with a stem that starts with `prefix`."""
        low, high = self.prefix_range(prefix)
        if low >= high:
            return np.zeros(self.size, dtype=np.bool_)
        if high - low == 1:
            return self._mask_of_positions(np.flatnonzero(self.tokens == low))
        return self._mask_of_positions(np.flatnonzero((self.tokens >= low) & (self.tokens < high)))

    def prefix_stems(self, prefix: str) -> Iterable[str]:
        low, high = self.prefix_range(prefix)
        return self.vocabulary[low:high]
