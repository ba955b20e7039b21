"""Filters and facet counts as numpy masks over one index generation's per-document codes.

Facet counts are disjunctive, as a shopper expects: each facet's counts apply every other active filter but
not its own, so picking "Biology" still shows how many "Chemistry" resources there are. `allows` is the
exception (conjunctive): its counts say what remains when that permission is ticked as well.
"""

from __future__ import annotations

import numpy as np

from marketplace.catalog.index_state import IndexState
from marketplace.catalog.licences import LICENCES, PERMISSIONS, allows
from marketplace.catalog.search_types import Mask, SearchRequest
from marketplace.catalog.vocabulary import CONJUNCTIVE_FACETS, FACETS, GRADE_LEVELS


def grade_mask(state: IndexState, grades: tuple[str, ...]) -> Mask:
    """Resources for any of `grades`."""
    levels = list(GRADE_LEVELS)
    wanted = np.uint8(sum(1 << levels.index(grade) for grade in grades if grade in GRADE_LEVELS))
    return (state.grade_bits & wanted) != 0  # type: ignore[no-any-return]


def _members(codes: np.ndarray, ordinals: list[int], size: int) -> Mask:
    """Documents whose code is one of `ordinals`. A lookup table indexed by the codes, not np.isin (which
    sorts): facet counts make several such masks over 100,000 documents per search. The table has one more
    slot, left False, for the code -1 (a value outside the vocabulary)."""
    table = np.zeros(size + 1, dtype=bool)
    table[ordinals] = True
    return table[codes]  # type: ignore[no-any-return]


def code_mask(state: IndexState, facet: str, values: tuple[str, ...]) -> Mask:
    """Resources whose one value of a coded facet (subject, type, licence) is any of `values`."""
    vocabulary = list(FACETS[facet])
    ordinals = [vocabulary.index(value) for value in values if value in FACETS[facet]]
    return _members(state.codes[facet], ordinals, len(vocabulary))


def _granting(permissions: tuple[str, ...]) -> list[int]:
    """The ordinals of the licences that grant every one of `permissions` (read from the licence vocabulary)."""
    return [
        ordinal for ordinal, terms in enumerate(LICENCES.values())
        if all(allows(terms, permission) for permission in permissions if permission in PERMISSIONS)
    ]


def allows_mask(state: IndexState, permissions: tuple[str, ...]) -> Mask:
    """Resources whose licence grants every one of `permissions`."""
    return _members(state.codes["license"], _granting(permissions), len(LICENCES))


def filter_masks(state: IndexState, request: SearchRequest) -> dict[str, Mask]:
    """One mask per facet the request filters on."""
    masks: dict[str, Mask] = {}
    for facet, selected in request.filters().items():
        if not selected:
            continue
        if facet == "allows":
            masks[facet] = allows_mask(state, selected)
        elif facet == "grade":
            masks[facet] = grade_mask(state, selected)
        else:
            masks[facet] = code_mask(state, facet, selected)
    return masks


def facet_counts(state: IndexState, text_mask: Mask, masks: dict[str, Mask]) -> dict[str, dict[str, int]]:
    """Facet -> value -> how many resources the text matches with the other facets' filters applied."""
    counts: dict[str, dict[str, int]] = {}
    for facet, values in FACETS.items():
        scope = text_mask
        for other, mask in masks.items():
            # A conjunctive facet's own choices narrow its counts too: "adaptations (n)" after ticking
            # "commercial" counts what allows both.
            if other != facet or facet in CONJUNCTIVE_FACETS:
                scope = scope & mask
        if facet == "grade":
            bits = state.grade_bits[scope]
            tallies = [int(np.count_nonzero(bits & np.uint8(1 << bit))) for bit in range(len(values))]
        elif facet == "allows":
            # Per licence once, then summed per permission: no mask per permission.
            licences = state.codes["license"][scope]
            per_licence = np.bincount(licences[licences >= 0], minlength=len(LICENCES))
            tallies = [int(per_licence[_granting((value,))].sum()) for value in values]
        else:
            codes = state.codes[facet][scope]
            tallies = np.bincount(codes[codes >= 0], minlength=len(values)).tolist()
        counts[facet] = dict(zip(values, tallies, strict=True))
    return counts
