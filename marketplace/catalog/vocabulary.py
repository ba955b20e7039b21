"""The closed vocabularies of the catalog: subjects, grade levels, resource types and licences.

Their order is the display order of facets; their labels are what people read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

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


@dataclass(frozen=True, slots=True)
class LicenseInfo:
    """A licence the catalog accepts: its display label and its canonical deed URL."""

    label: str
    url: str


LICENSES: Final[dict[str, LicenseInfo]] = {
    "CC0-1.0": LicenseInfo("CC0 1.0", "https://creativecommons.org/publicdomain/zero/1.0/"),
    "CC-PDDC": LicenseInfo("Public domain", "https://creativecommons.org/publicdomain/mark/1.0/"),
    "CC-BY-4.0": LicenseInfo("CC BY 4.0", "https://creativecommons.org/licenses/by/4.0/"),
    "CC-BY-SA-4.0": LicenseInfo("CC BY-SA 4.0", "https://creativecommons.org/licenses/by-sa/4.0/"),
    "CC-BY-NC-4.0": LicenseInfo("CC BY-NC 4.0", "https://creativecommons.org/licenses/by-nc/4.0/"),
    "CC-BY-NC-SA-4.0": LicenseInfo("CC BY-NC-SA 4.0", "https://creativecommons.org/licenses/by-nc-sa/4.0/"),
    "CC-BY-3.0": LicenseInfo("CC BY 3.0", "https://creativecommons.org/licenses/by/3.0/"),
    "CC-BY-SA-3.0": LicenseInfo("CC BY-SA 3.0", "https://creativecommons.org/licenses/by-sa/3.0/"),
    "CC-BY-NC-SA-3.0": LicenseInfo("CC BY-NC-SA 3.0", "https://creativecommons.org/licenses/by-nc-sa/3.0/"),
    "CC-BY-2.0": LicenseInfo("CC BY 2.0", "https://creativecommons.org/licenses/by/2.0/"),
    "CC-BY-SA-2.0": LicenseInfo("CC BY-SA 2.0", "https://creativecommons.org/licenses/by-sa/2.0/"),
}

FACETS: Final[dict[str, dict[str, str]]] = {
    "subject": SUBJECTS,
    "grade": GRADE_LEVELS,
    "type": RESOURCE_TYPES,
    "license": {key: info.label for key, info in LICENSES.items()},
}
"""Facet name (as in the API's query parameters) -> value -> label."""
