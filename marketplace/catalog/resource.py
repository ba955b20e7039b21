"""The Resource record: one catalog entry as loaded from `content/` and stored in the database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from marketplace.catalog.licences import LICENCES, LicenceTerms
from marketplace.catalog.vocabulary import ACTIVITY_TYPES


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
    license_evidence_url: str | None = None  # where the licence was read at its source
    license_checked: date | None = None  # and when
    license_note: str = ""  # e.g. which version a relicensed source's link points to

    @property
    def is_activity(self) -> bool:
        """Whether the tool itself renders it through an LTI resource link (reading, simulation, quiz)."""
        return self.type in ACTIVITY_TYPES

    @property
    def license_label(self) -> str:
        """The licence as people read it, e.g. "CC BY 4.0"."""
        terms = LICENCES.get(self.license_id)
        return terms.label if terms else self.license_id

    @property
    def licence(self) -> LicenceTerms | None:
        """The licence's terms (None only for a row stored under an id the vocabulary no longer has)."""
        return LICENCES.get(self.license_id)

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

    def licence_summary(self) -> dict[str, Any]:
        """The licence with what it allows, and where and when it was read (its provenance)."""
        return licence_to_dict(self.license_id, self.license_url, self.license_attribution) | {
            "evidence_url": self.license_evidence_url,
            "checked": self.license_checked.isoformat() if self.license_checked else None,
            "note": self.license_note or None,
        }

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
            "license": self.licence_summary(),
            "payload": payload,
        }


def licence_to_dict(licence_id: str, url: str, attribution: str) -> dict[str, Any]:
    """A licence as the API shows it: id, names, link, credit line and what it lets people do."""
    terms = LICENCES.get(licence_id)
    return {
        "id": licence_id,
        "label": terms.label if terms else licence_id,
        "name": terms.name if terms else licence_id,
        "url": url,
        "attribution": attribution,
        "allows_commercial_use": terms.commercial if terms else None,
        "allows_adaptations": terms.adaptations if terms else None,
        "share_alike": terms.share_alike if terms else None,
        "public_domain": terms.public_domain if terms else None,
        "in_plain_words": terms.plain_words if terms else None,
    }


def _squeezed(text: str) -> str:
    """Lower case without spaces, dashes or dots, so "CC-BY 4.0" and "cc by 4.0" compare equal."""
    return "".join(char for char in text.lower() if char.isalnum())
