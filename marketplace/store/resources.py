"""Query functions for catalog resources. They never commit: the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from marketplace.catalog.resource import Resource
from marketplace.store.models import ResourceRow


@dataclass(frozen=True, slots=True)
class StoredSource:
    """What the database remembers about a resource's file, to tell whether it changed."""

    id: str
    source_path: str
    fingerprint: str
    type: str
    payload: dict[str, Any]


def to_resource(row: ResourceRow) -> Resource:
    return Resource(
        id=row.id,
        title=row.title,
        description=row.description,
        subject=row.subject_id,
        grade_levels=tuple(row.grade_levels),
        type=row.type,
        language=row.language,
        keywords=tuple(row.keywords),
        thumbnail=row.thumbnail,
        author_name=row.author_name,
        author_url=row.author_url,
        license_id=row.license_id,
        license_attribution=row.license_attribution,
        license_url=row.license_url,
        license_evidence_url=row.license_evidence_url,
        license_checked=row.license_checked,
        license_note=row.license_note or "",
        payload=dict(row.payload),
        content_hash=row.content_hash,
        source_path=row.source_path,
        source_fingerprint=row.source_fingerprint,
    )


def _apply(row: ResourceRow, resource: Resource) -> None:
    row.title = resource.title
    row.description = resource.description
    row.subject_id = resource.subject
    row.grade_levels = list(resource.grade_levels)
    row.type = resource.type
    row.language = resource.language
    row.keywords = list(resource.keywords)
    row.thumbnail = resource.thumbnail
    row.author_name = resource.author_name
    row.author_url = resource.author_url
    row.license_id = resource.license_id
    row.license_attribution = resource.license_attribution
    row.license_url = resource.license_url
    row.license_evidence_url = resource.license_evidence_url
    row.license_checked = resource.license_checked
    row.license_note = resource.license_note
    row.payload = dict(resource.payload)
    row.content_hash = resource.content_hash
    row.source_path = resource.source_path
    row.source_fingerprint = resource.source_fingerprint


def get_resource(session: Session, resource_id: str) -> Resource | None:
    row = session.get(ResourceRow, resource_id)
    return to_resource(row) if row else None


def get_resources(session: Session, resource_ids: Sequence[str]) -> list[Resource]:
    """The resources with these ids, in the order given (unknown ids are skipped)."""
    if not resource_ids:
        return []
    rows = {row.id: row for row in session.scalars(select(ResourceRow).where(ResourceRow.id.in_(resource_ids)))}
    return [to_resource(rows[resource_id]) for resource_id in resource_ids if resource_id in rows]


def all_resources(session: Session) -> list[Resource]:
    return [to_resource(row) for row in session.scalars(select(ResourceRow).order_by(ResourceRow.id))]


def content_hashes(session: Session) -> dict[str, str]:
    """Resource id -> content hash of everything stored."""
    return {row.id: row.content_hash for row in session.execute(select(ResourceRow.id, ResourceRow.content_hash))}


def stored_sources(session: Session) -> dict[str, StoredSource]:
    """Source path -> what was stored from it."""
    query = select(
        ResourceRow.id, ResourceRow.source_path, ResourceRow.source_fingerprint, ResourceRow.type, ResourceRow.payload
    )
    return {
        row.source_path: StoredSource(row.id, row.source_path, row.source_fingerprint, row.type, row.payload)
        for row in session.execute(query)
    }


def upsert_resources(session: Session, resources: Iterable[Resource]) -> tuple[int, int]:
    """Insert new resources and update existing ones (by id); returns (added, updated)."""
    added = updated = 0
    for resource in resources:
        row = session.get(ResourceRow, resource.id)
        if row is None:
            row = ResourceRow(id=resource.id)
            _apply(row, resource)
            session.add(row)
            added += 1
        else:
            _apply(row, resource)
            updated += 1
        session.flush()
    return added, updated


def delete_resources(session: Session, resource_ids: Iterable[str]) -> int:
    ids = list(resource_ids)
    if not ids:
        return 0
    session.execute(delete(ResourceRow).where(ResourceRow.id.in_(ids)))
    return len(ids)
