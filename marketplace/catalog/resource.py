"""The Resource record: one catalog entry as loaded from `content/` and stored in the database."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from marketplace.catalog.vocabulary import ACTIVITY_TYPES, LICENSES


@dataclass(frozen=True, slots=True)
class Resource:
    """One open educational resource of the catalog."""

    id: str
    title: str
    description: str
    subject: str
    grade_levels: tuple[str, ...]
    type: str
    language: str
    keywords: tuple[str, ...]
    thumbnail: str
    author_name: str
    author_url: str | None
    license_id: str
    license_attribution: str
    license_url: str
    payload: dict[str, Any] = field(hash=False, compare=False)
    content_hash: str = ""
    source_path: str = ""
    source_fingerprint: str = ""

    @property
    def is_activity(self) -> bool:
        """Whether the tool itself renders it through an LTI resource link (reading, simulation, quiz)."""
        return self.type in ACTIVITY_TYPES

    @property
    def license_label(self) -> str:
        """The licence as people read it, e.g. "CC BY 4.0"."""
        info = LICENSES.get(self.license_id)
        return info.label if info else self.license_id

    @property
    def credit_line(self) -> str:
        """The one credit line shown with the resource: the attribution, with the licence named once.

        Most attributions already name their licence ("…, licensed CC BY 4.0"); appending the label again
        would print it twice on the course page.
        """
        attribution = self.license_attribution.strip().rstrip(".")
        label = self.license_label
        if _squeezed(label) in _squeezed(attribution):
            return attribution
        return f"{attribution} ({label})"

    def to_public_dict(self) -> dict[str, Any]:
        """The JSON shape of the API; quiz answer keys are never included."""
        payload = dict(self.payload)
        if self.type == "quiz":
            payload = {
                "max_score": payload["max_score"],
                "question_count": len(payload["questions"]),
            }
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "subject": self.subject,
            "grade_levels": list(self.grade_levels),
            "type": self.type,
            "language": self.language,
            "keywords": list(self.keywords),
            "thumbnail": self.thumbnail,
            "author": {"name": self.author_name, "url": self.author_url},
            "license": {
                "id": self.license_id,
                "label": self.license_label,
                "url": self.license_url,
                "attribution": self.license_attribution,
            },
            "payload": payload,
        }


def _squeezed(text: str) -> str:
    """Lower case without spaces, dashes or dots, so "CC-BY 4.0" and "cc by 4.0" compare equal."""
    return "".join(char for char in text.lower() if char.isalnum())
