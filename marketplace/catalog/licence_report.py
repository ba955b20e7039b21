"""The licence report a catalog editor reads to keep the labels true: counts, and entries to check again.

It reads the content folder itself (not the database), so an editor can run it on a branch before
`marketplace index`, and it counts only resources that load; a file that does not load is a problem for
`marketplace index --strict` to report.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Final

from marketplace.catalog.licences import LICENCES
from marketplace.catalog.loader import load_catalog
from marketplace.catalog.resource import Resource
from marketplace.catalog.sources import OWN_NAME, source_name

OWN_AUTHOR: Final = "LTI Marketplace Editors"
"""Resources written for the catalog by its editors: their licence is ours to give, so there is nothing to read."""

STALE_AFTER: Final = timedelta(days=365)
"""Sources relicense (PhET and OpenStax did in 2026): a licence read more than a year ago is read again."""


@dataclass(frozen=True, slots=True)
class ToCheck:
    """An external resource whose licence should be read (again) at its source."""

    resource_id: str
    source_path: str
    source: str
    licence_id: str
    reason: str  # "no evidence recorded", "read 2025-01-02, over a year ago"

    def to_dict(self) -> dict[str, str]:
        return {"id": self.resource_id, "file": self.source_path, "source": self.source,
                "licence": self.licence_id, "reason": self.reason}


@dataclass(slots=True)
class LicenceReport:
    total: int = 0
    external: int = 0
    per_licence: Counter[str] = field(default_factory=Counter)
    per_source: dict[str, Counter[str]] = field(default_factory=dict)  # source -> licence id -> count
    to_check: list[ToCheck] = field(default_factory=list)
    problems: int = 0  # files that did not load

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "external": self.external,
            "files_with_problems": self.problems,
            "per_licence": [
                {"id": licence_id, "label": LICENCES[licence_id].label, "count": count}
                for licence_id, count in self.per_licence.most_common()
            ],
            "per_source": [
                {"source": source, "count": sum(licences.values()), "licences": dict(licences.most_common())}
                for source, licences in sorted(self.per_source.items(), key=lambda item: -sum(item[1].values()))
            ],
            "to_check": [entry.to_dict() for entry in self.to_check],
        }


def is_external(resource: Resource) -> bool:
    return resource.author_name != OWN_AUTHOR


def _reason_to_check(resource: Resource, today: date) -> str | None:
    if resource.license_evidence_url is None or resource.license_checked is None:
        return "no evidence recorded"
    if today - resource.license_checked > STALE_AFTER:
        return f"read {resource.license_checked.isoformat()}, over a year ago"
    return None


def licence_report(content_dir: Path, today: date) -> LicenceReport:
    loaded = load_catalog(content_dir)
    report = LicenceReport(total=len(loaded.resources), problems=len(loaded.problems))
    for resource in sorted(loaded.resources, key=lambda item: item.source_path):
        source = source_name(resource) if is_external(resource) else OWN_NAME
        report.per_licence[resource.license_id] += 1
        report.per_source.setdefault(source, Counter())[resource.license_id] += 1
        if not is_external(resource):
            continue
        report.external += 1
        reason = _reason_to_check(resource, today)
        if reason is not None:
            report.to_check.append(ToCheck(resource.id, resource.source_path, source, resource.license_id, reason))
    return report
