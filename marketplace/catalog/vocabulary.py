"""The closed vocabularies of the catalog: subjects, grade levels, resource types and licences.

Their order is the display order of facets; their labels are what people read.
"""

from __future__ import annotations

from typing import Final

from marketplace.catalog.licences import LICENCES, PERMISSIONS

SUBJECTS: Final[dict[str, str]] = {
    "mathematics": "Mathematics",
    "physics": "Physics",
    "chemistry": "Chemistry",
    "biology": "Biology",
    "earth-space-science": "Earth & Space Science",
    "computer-science": "Computer Science",
    "english-language-arts": "English Language Arts",
    "history": "History",
    "geography": "Geography",
    "economics": "Economics",
    "arts": "Arts & Music",
    "world-languages": "World Languages",
}

GRADE_LEVELS: Final[dict[str, str]] = {
    "k-2": "Grades K–2",
    "3-5": "Grades 3–5",
    "6-8": "Grades 6–8",
    "9-12": "Grades 9–12",
    "higher-ed": "Higher education",
}

RESOURCE_TYPES: Final[dict[str, str]] = {
    "link": "Web page",
    "html": "Embed",
    "image": "Image",
    "file": "File",
    "reading": "Reading",
    "simulation": "Simulation",
    "quiz": "Quiz",
}

# Types opened through an LTI resource link (the tool renders them); the others can be placed directly.
ACTIVITY_TYPES: Final[frozenset[str]] = frozenset({"reading", "simulation", "quiz"})


FACETS: Final[dict[str, dict[str, str]]] = {
    "subject": SUBJECTS,
    "grade": GRADE_LEVELS,
    "type": RESOURCE_TYPES,
    "allows": PERMISSIONS,
    "license": {key: terms.label for key, terms in LICENCES.items()},
}
"""Facet name (as in the API's query parameters) -> value -> label.

Every facet but `allows` is disjunctive (any of the values ticked); `allows` is conjunctive (each permission
ticked must be granted), and it is derived from the licence rather than stored.
"""
FACET_LEGENDS: Final[dict[str, str]] = {
    "subject": "Subject", "grade": "Grade level", "type": "Type", "allows": "What you may do", "license": "Licence",
}
"""Facet name -> the heading of its group of checkboxes."""
CONJUNCTIVE_FACETS: Final[frozenset[str]] = frozenset({"allows"})
