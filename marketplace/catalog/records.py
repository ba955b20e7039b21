"""Catalog resources in the database: rows to `Resource` and back, and the query functions over them.

This lives in catalog/, not store/: store/ holds the tables and imports nothing above it, and the conversion
to the domain object belongs to the domain package. The functions never commit: the caller owns the
transaction."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Any

from sqlalchemy import Row, Select, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from marketplace.catalog.resource import Resource
from marketplace.clock import utc_now
from marketplace.store.catalog_generation import mark_catalog_changed
from marketplace.store.models import ResourceRow
from marketplace.store.plain_rows import plain_rows


@dataclass(frozen=True, slots=True)
class StoredSources:
    """What the database remembers of the resource files, to tell which changed: source path -> the file's
    stamp (`fingerprint`), and source path -> the id stored from it. Two plain dicts: a re-index reads one
    entry per resource, and for 100,000 the two dicts took 55-75 ms where a dict of one small named tuple per
    entry took 115-155 ms (with the cycle collector as `marketplace index` tunes it)."""

    stamps: dict[str, str]
    ids: dict[str, str]


# Resource field -> ResourceRow column, where the names differ; sequences are tuples in the domain and JSON
# lists in the row. Conversion goes field by field over the dataclass, so a new field needs no code here
# (only a column of the same name).
_COLUMN_OF = {"subject": "subject_id"}
_SEQUENCES = frozenset({"grade_levels", "keywords"})
# (field, column) pairs, worked out once: to_resource runs for every resource a page shows.
_FIELD_COLUMNS = tuple((item.name, _COLUMN_OF.get(item.name, item.name)) for item in fields(Resource))


@functools.cache
def _resource_columns() -> tuple[InstrumentedAttribute[Any], ...]:
    """The columns `to_resource` reads (made on first use: the mapper is not touched at import)."""
    return tuple(getattr(ResourceRow, column) for _, column in _FIELD_COLUMNS)


def _resource_rows() -> Select[Any]:
    """Resources as plain rows of their columns, not mapped objects, which the session would build, identity-map
    and track. Measured on SQLite: 20 resources 1.7-3.1 ms as objects, 1.4-2.6 ms as rows (a picker page reads
    a few such lists); the 100,000 of a full index build 10.1 s as objects, 6.4 s as rows."""
    return select(*_resource_columns())


def to_resource(row: ResourceRow | Row[Any]) -> Resource:
    values: dict[str, Any] = {}
    for name, column in _FIELD_COLUMNS:
        value = getattr(row, column)
        if name in _SEQUENCES:
            value = tuple(value)
        elif name == "payload":
            value = dict(value)
        elif name == "license_note":
            value = value or ""  # rows stored before migration 0007 filled the column
        values[name] = value
    return Resource(**values)


def get_resource(session: Session, resource_id: str) -> Resource | None:
    row = session.get(ResourceRow, resource_id)
    return to_resource(row) if row else None


@functools.cache
def _resources_by_id() -> Select[Any]:
    """Built once (every picker page and answer reads its resources by id): the ids are an expanding parameter."""
    return _resource_rows().where(ResourceRow.id.in_(bindparam("ids", expanding=True)))


def get_resources(session: Session, resource_ids: Sequence[str]) -> list[Resource]:
    """The resources with these ids, in the order given (unknown ids are skipped)."""
    if not resource_ids:
        return []
    rows = {row.id: row for row in session.execute(_resources_by_id(), {"ids": list(resource_ids)})}
    return [to_resource(rows[resource_id]) for resource_id in resource_ids if resource_id in rows]


def iter_resources(session: Session, page: int = 1000) -> Iterator[Resource]:
    """Every resource in id order, read `page` rows at a time: a full index build streams the catalog through
    here, never holding 100,000 rows (and their resources) at once."""
    query = _resource_rows().order_by(ResourceRow.id).execution_options(yield_per=page)
    for row in session.execute(query):
        yield to_resource(row)


def content_hashes(session: Session) -> dict[str, str]:
    """Resource id -> content hash of everything stored."""
    return dict(plain_rows(session, select(ResourceRow.id, ResourceRow.content_hash)))


def stored_sources(session: Session) -> StoredSources:
    """The stamp and id stored from every source path. Three short text columns, which an index covers
    (alembic 0010), read through `plain_rows`: before, 100,000 rows with their type and payload were a
    seventh of re-indexing a few files."""
    rows = plain_rows(session, select(ResourceRow.source_path, ResourceRow.source_fingerprint, ResourceRow.id))
    return StoredSources({path: stamp for path, stamp, _ in rows}, {path: resource_id for path, _, resource_id in rows})


def file_payloads(session: Session) -> dict[str, dict[str, Any]]:
    """Source path -> payload of every file resource: it names the attachment whose change counts too."""
    query = select(ResourceRow.source_path, ResourceRow.payload).where(ResourceRow.type == "file")
    return {path: payload for path, payload in session.execute(query)}


def _row_values(resource: Resource) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, column in _FIELD_COLUMNS:
        value = getattr(resource, name)
        if name in _SEQUENCES:
            value = list(value)
        elif name == "payload":
            value = dict(value)
        values[column] = value
    return values


UPSERT_BATCH = 1000


def upsert_resources(session: Session, resources: Iterable[Resource]) -> tuple[int, int]:
    """Insert new resources and update existing ones (by id), a batch of statements at a time; returns
    (added, updated).

    Bulk INSERT and bulk UPDATE by primary key (executemany), not one ORM object per resource: a catalog of
    100,000 files was a `get` and a flush per file. Every value is written, change times included, because
    bulk statements skip the ORM's column defaults.
    """
    added = updated = 0
    now = utc_now()
    pending: list[Resource] = []

    def write(batch: list[Resource]) -> None:
        nonlocal added, updated
        existing = set(session.scalars(select(ResourceRow.id).where(ResourceRow.id.in_([r.id for r in batch]))))
        fresh = [r for r in batch if r.id not in existing]
        # Strictly increasing in file order, as one insert per row made them: "New in the catalog" sorts by it.
        inserts = [{**_row_values(r), "created_at": now + timedelta(microseconds=added + number),
                    "updated_at": now} for number, r in enumerate(fresh)]
        updates = [{**_row_values(r), "updated_at": now} for r in batch if r.id in existing]
        if inserts or updates:
            mark_catalog_changed(session)
        if inserts:
            session.execute(insert(ResourceRow), inserts)
        if updates:
            session.execute(update(ResourceRow), updates)
        added, updated = added + len(inserts), updated + len(updates)

    for resource in resources:
        pending.append(resource)
        if len(pending) == UPSERT_BATCH:
            write(pending)
            pending = []
    if pending:
        write(pending)
    return added, updated


def delete_resources(session: Session, resource_ids: Iterable[str]) -> int:
    ids = list(resource_ids)
    if not ids:
        return 0
    mark_catalog_changed(session)
    session.execute(delete(ResourceRow).where(ResourceRow.id.in_(ids)))
    return len(ids)


def find_resource(sessions: sessionmaker[Session], resource_id: str) -> Resource | None:
    """One resource by id, in a read-only session of its own (for views and the CLI)."""
    with sessions() as session:
        return get_resource(session, resource_id)


def resource_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(ResourceRow)) or 0)
