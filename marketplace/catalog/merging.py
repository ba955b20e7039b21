"""Which of the index's segments a commit merges, so that a re-index costs the same every time.

Each re-index commits its changed resources as a new segment. Whoosh's default policy (MERGE_SMALL) merges
segments by a Fibonacci rule, inside the commit that happens to cross it: one re-index of 100 files in eight
merged small segments (4 to 6 s more than the others), and once twenty small segments pile up it merges one of
the 50,000-document segments of a full build (50 s). A merge reads every term of every segment it takes, even
a segment whose documents are all deleted (0.12 s each at 100,000 resources).

So the work is split:
- a re-index (`apply_changes`) merges nothing, unless the index has grown past FOREGROUND_SEGMENT_LIMIT
  segments (no server has compacted it for a long time): then it merges its smallest segments down to the
  limit, a bounded amount;
- compaction (`index_store.compact`, run in the background by every host's replica, and by `marketplace index
  --compact`) merges segments of similar size, MERGE_FACTOR at a time (a log-structured policy, as Lucene's
  LogDocMergePolicy), drops segments with nothing left alive, and rewrites a segment once most of it is deleted.
  No automatic merge takes more than MAX_MERGED_DOCUMENTS live documents except such a rewrite.

Everything here is a pure function of the segments' sizes; index_store applies the plan through Whoosh.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MERGE_FACTOR = 10  # segments of one size level merged together
MAX_MERGED_DOCUMENTS = 20_000  # live documents a level merge may produce; larger segments are left alone
RECLAIM_DELETED_SHARE = 0.5  # a segment this much deleted is rewritten without its deleted documents
FOREGROUND_SEGMENT_LIMIT = 64  # past this many segments, a re-index itself merges the smallest ones


@dataclass(frozen=True, slots=True)
class SegmentSize:
    """A segment as the merge policy sees it."""

    segment_id: str
    documents: int  # every document it holds, deleted ones included
    deleted: int

    @property
    def live(self) -> int:
        return self.documents - self.deleted


@dataclass(frozen=True, slots=True)
class MergePlan:
    """What one commit does to the committed segments: `merged` are read into the commit's new segment,
    `dropped` (nothing alive) are left out without being read, and every other segment is kept as it is."""

    merged: frozenset[str] = frozenset()
    dropped: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.merged or self.dropped)


def _level(live: int) -> int:
    """A segment's size level: the number of decimal digits of its live documents."""
    return int(math.log10(live)) if live > 0 else 0


def compaction_plan(segments: Sequence[SegmentSize]) -> MergePlan:
    """One compaction step: the smallest level holding MERGE_FACTOR segments is merged (its smallest
    MERGE_FACTOR), else the most deleted segment past RECLAIM_DELETED_SHARE is rewritten; segments with
    nothing alive are dropped either way. An empty plan means the index needs nothing."""
    dropped = frozenset(s.segment_id for s in segments if s.live <= 0)
    alive = sorted((s for s in segments if s.live > 0), key=lambda s: (s.live, s.segment_id))
    by_level: dict[int, list[SegmentSize]] = {}
    for segment in alive:
        by_level.setdefault(_level(segment.live), []).append(segment)
    for level in sorted(by_level):
        group = by_level[level][:MERGE_FACTOR]
        if len(group) == MERGE_FACTOR and sum(s.live for s in group) <= MAX_MERGED_DOCUMENTS:
            return MergePlan(frozenset(s.segment_id for s in group), dropped)
    worn = [s for s in alive if s.deleted >= RECLAIM_DELETED_SHARE * s.documents]
    if worn:
        most = max(worn, key=lambda s: (s.deleted / s.documents, s.segment_id))
        return MergePlan(frozenset({most.segment_id}), dropped)
    return MergePlan(dropped=dropped)


def foreground_plan(segments: Sequence[SegmentSize], *, adds_segment: bool) -> MergePlan:
    """What a re-index merges: nothing, unless the index would hold more than FOREGROUND_SEGMENT_LIMIT
    segments after it; then segments with nothing alive are dropped and the smallest are merged (into the
    re-index's own new segment) until it would not."""
    after = len(segments) + (1 if adds_segment else 0)
    if after <= FOREGROUND_SEGMENT_LIMIT:
        return MergePlan()
    dropped = frozenset(s.segment_id for s in segments if s.live <= 0)
    after -= len(dropped)
    if after <= FOREGROUND_SEGMENT_LIMIT:
        return MergePlan(dropped=dropped)
    alive = sorted((s for s in segments if s.live > 0), key=lambda s: (s.live, s.segment_id))
    # Merged segments go into the commit's new segment (made if the re-index added nothing itself).
    excess = after - FOREGROUND_SEGMENT_LIMIT + (0 if adds_segment else 1)
    return MergePlan(frozenset(s.segment_id for s in alive[:excess]), dropped)
