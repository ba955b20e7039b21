"""What a catalog search is asked and what it answers: the request, hits, result and no-results help."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from marketplace.catalog.highlight import Segment

SortOrder = Literal["relevance", "title"]


SORT_ORDERS: tuple[SortOrder, ...] = ("relevance", "title")


MAX_PER_PAGE = 100


MAX_RESULT_WINDOW = 10_000


Mask = npt.NDArray[np.bool_]


Scores = npt.NDArray[np.float64]


MatchLevel = Literal["all", "most", "any"]


class IndexMissingError(FileNotFoundError):
    """No index has been built yet at the configured path."""


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """What to search for; values are already validated by the caller."""

    text: str = ""
    subjects: tuple[str, ...] = ()
    grades: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    licenses: tuple[str, ...] = ()
    allows: tuple[str, ...] = ()  # permissions every result's licence must grant ("commercial", "adaptations")
    page: int = 1
    per_page: int = 20
    sort: SortOrder = "relevance"
    as_you_type: bool = False
    # The total, the facets and the notes without the page of hits (the picker's first screen shows its own
    # sections instead: building hits it never shows was most of its search).
    counts_only: bool = False

    def filters(self) -> dict[str, tuple[str, ...]]:
        return {"subject": self.subjects, "grade": self.grades, "type": self.types, "allows": self.allows,
                "license": self.licenses}


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One result, with what a result card shows."""

    id: str
    title: str
    description: str
    subject: str
    type: str
    language: str
    author: str
    license_id: str
    display: dict[str, Any]
    title_highlight: list[Segment]
    description_highlight: list[Segment]
    score: float | None
    text_score: float | None = None  # the BM25F part of `score`, without the ranking tiers


@dataclass(frozen=True, slots=True)
class Relaxation:
    """The words were relaxed: too few resources hold all of them."""

    level: Literal["most", "any"]
    all_words_total: int

    @property
    def message(self) -> str:
        words = "most of them" if self.level == "most" else "any of them"
        if self.all_words_total == 0:
            return f"No resources match all your words; showing those that match {words}."
        noun = "resource matches" if self.all_words_total == 1 else "resources match"
        return f"Only {self.all_words_total} {noun} all your words; below, those that match {words}."


@dataclass(frozen=True, slots=True)
class BroaderSearch:
    """A wider search to offer when nothing was found, with how many it finds."""

    label: str
    text: str
    filters: dict[str, tuple[str, ...]]
    total: int


@dataclass(frozen=True, slots=True)
class NoResultsHelp:
    """What a page with no results offers instead of a blank."""

    nearest_subjects: list[tuple[str, int]]
    broader: list[BroaderSearch]
    active_filters: dict[str, tuple[str, ...]]
    subject_text: str = ""  # the words the subject counts are for ("" when they are the whole catalog's)
    found_without_filters: bool = False

    @property
    def message(self) -> str:
        if self.active_filters and self.found_without_filters:
            return "No resources match your words with the filters you set."
        return "No resources contain your words."


@dataclass(frozen=True, slots=True)
class SearchResult:
    """A page of hits, the exact total, facet counts (facet -> value -> count) and a spelling suggestion,
    with how the words were read: relaxed, corrected, ignored, and the audience or type they named."""

    total: int
    page: int
    per_page: int
    hits: list[SearchHit]
    facets: dict[str, dict[str, int]]
    suggestion: str | None = None
    relaxation: Relaxation | None = None
    corrections: dict[str, str] = field(default_factory=dict)
    ignored: tuple[str, ...] = ()
    grades: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()
    help: NoResultsHelp | None = None

    @property
    def corrected_text(self) -> str | None:
        """What the results were found for, when misspelt words were replaced."""
        return self.suggestion if self.corrections else None

    @property
    def correction_message(self) -> str | None:
        if not self.corrections:
            return None
        missing = ", ".join(f"“{word}”" for word in self.corrections)
        return f"No resources contain {missing}; showing results for “{self.corrected_text}”."

    @property
    def page_count(self) -> int:
        return max(1, -(-min(self.total, MAX_RESULT_WINDOW) // self.per_page))
