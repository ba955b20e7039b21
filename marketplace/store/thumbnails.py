"""Query functions for stored thumbnails. They never commit: the caller owns the transaction.

Listings select columns, never `data`, so comparing a whole catalog's thumbnails reads no image bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, delete, func, not_, or_, select
from sqlalchemy.orm import Session

from marketplace.store.catalog_generation import mark_catalog_changed
from marketplace.store.models import ResourceRow, ThumbnailRow


@dataclass(frozen=True, slots=True)
class ThumbnailState:
    """What was last tried for a resource's picture: enough to decide whether to fetch it again."""

    resource_id: str
    source_url: str
    source_sha256: str | None
    sha256: str | None  # None: no picture was ever made from this source
    last_error: str | None
    last_tried_at: datetime


@dataclass(frozen=True, slots=True)
class MadeThumbnail:
    """A thumbnail that exists, without its bytes."""

    resource_id: str
    sha256: str
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class ThumbnailImage:
    """The bytes to serve."""

    resource_id: str
    sha256: str
    media_type: str
    data: bytes


def picture_inputs(session: Session) -> list[tuple[str, str, str, dict[str, Any] | None]]:
    """(id, type, thumbnail, payload) of each resource that may have a raster picture, in id order: what
    deciding on its picture source needs. Only an image's payload is read (its URL may be the picture).

    The database leaves out the resources that cannot have one: not an image, and a thumbnail that is empty
    or names a drawing (.svg, .svgz) and is not a URL. That is most of a catalog (a subject's drawing is the
    default thumbnail), and reading all 100,000 rows here was a tenth of re-indexing a few files. The rule
    keeps a superset of what `picture_source` accepts; tests/catalog/test_thumbnails.py checks that."""
    lowered = func.lower(ResourceRow.thumbnail)
    cannot = and_(ResourceRow.type != "image", not_(ResourceRow.thumbnail.startswith("https://")),
                  or_(ResourceRow.thumbnail == "", lowered.endswith(".svg"), lowered.endswith(".svgz")))
    payload = case((ResourceRow.type == "image", ResourceRow.payload), else_=None)
    query = (select(ResourceRow.id, ResourceRow.type, ResourceRow.thumbnail, payload.label("payload"))
             .where(not_(cannot)).order_by(ResourceRow.id))
    return [(resource_id, kind, thumbnail, data) for resource_id, kind, thumbnail, data in session.execute(query)]


def thumbnail_states(session: Session) -> dict[str, ThumbnailState]:
    """Resource id -> what was last tried for its picture."""
    query = select(ThumbnailRow.resource_id, ThumbnailRow.source_url, ThumbnailRow.source_sha256, ThumbnailRow.sha256,
                   ThumbnailRow.last_error, ThumbnailRow.last_tried_at)
    return {row.resource_id: ThumbnailState(*row) for row in session.execute(query)}


def made_thumbnails(session: Session, resource_ids: Sequence[str] | None = None) -> dict[str, MadeThumbnail]:
    """Resource id -> its made thumbnail, for every resource (or those of `resource_ids`) that has one."""
    query = (select(ThumbnailRow.resource_id, ThumbnailRow.sha256, ThumbnailRow.width, ThumbnailRow.height)
             .where(ThumbnailRow.data.is_not(None), ThumbnailRow.sha256.is_not(None)))
    if resource_ids is not None:
        if not resource_ids:
            return {}
        query = query.where(ThumbnailRow.resource_id.in_(list(resource_ids)))
    return {row.resource_id: MadeThumbnail(row.resource_id, row.sha256, row.width or 0, row.height or 0)
            for row in session.execute(query)}


def thumbnail_image(session: Session, resource_id: str) -> ThumbnailImage | None:
    """The stored bytes of a resource's thumbnail, or None when it has none."""
    row = session.execute(
        select(ThumbnailRow.resource_id, ThumbnailRow.sha256, ThumbnailRow.media_type, ThumbnailRow.data)
        .where(ThumbnailRow.resource_id == resource_id)
    ).one_or_none()
    if row is None or row.data is None or row.sha256 is None:
        return None
    return ThumbnailImage(row.resource_id, row.sha256, row.media_type or "image/jpeg", bytes(row.data))


def save_thumbnail(session: Session, resource_id: str, *, source_url: str, source_sha256: str, sha256: str,
                   media_type: str, width: int, height: int, data: bytes, now: datetime) -> None:
    """Store a made thumbnail, replacing whatever was there."""
    row = session.get(ThumbnailRow, resource_id)
    mark_catalog_changed(session)  # documents carry their pictures: hosts rewrite them
    if row is None:
        row = ThumbnailRow(resource_id=resource_id)
        session.add(row)
    row.source_url = source_url
    row.source_sha256 = source_sha256
    row.sha256 = sha256
    row.media_type = media_type
    row.width = width
    row.height = height
    row.data = data
    row.made_at = now
    row.last_error = None
    row.last_tried_at = now


def record_failure(session: Session, resource_id: str, *, source_url: str, reason: str, now: datetime) -> None:
    """Remember that `source_url` could not be made into a thumbnail, and why.

    A picture made earlier from the same source is kept (a passing outage should not blank it); one made
    from another source is dropped, since it no longer shows what the resource names.
    """
    row = session.get(ThumbnailRow, resource_id)
    if row is None:
        row = ThumbnailRow(resource_id=resource_id)
        session.add(row)
    elif row.source_url != source_url:
        if row.made_at is not None:
            mark_catalog_changed(session)  # the picture its document carries is dropped
        row.source_sha256 = row.sha256 = row.media_type = row.data = None
        row.width = row.height = None
        row.made_at = None
    row.source_url = source_url
    row.last_error = reason[:2000]
    row.last_tried_at = now


def delete_thumbnails(session: Session, resource_ids: Iterable[str]) -> int:
    """Drop the thumbnails of resources that no longer name a picture; returns how many."""
    ids = list(resource_ids)
    if not ids:
        return 0
    mark_catalog_changed(session)
    session.execute(delete(ThumbnailRow).where(ThumbnailRow.resource_id.in_(ids)))
    return len(ids)
