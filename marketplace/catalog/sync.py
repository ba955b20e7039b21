"""Bringing the database and the index up to date with `content/`, touching only what changed.

content/ -> database: files whose fingerprint (mtime and size, with any attached file) differs are parsed
again; files that fail keep their last good version in the database and are reported; deleted files
remove their resources. database -> index: the index's manifest is compared with the stored content
hashes, so any host can bring its own index replica up to date from the shared database.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from marketplace.catalog.index_store import (
    analysis_is_current,
    apply_changes,
    build_index,
    index_exists,
    read_manifest,
)
from marketplace.catalog.loader import (
    CatalogProblem,
    attachment_path,
    fingerprint,
    in_source_order,
    parsed_resources,
    scan_sources,
)
from marketplace.catalog.records import (
    content_hashes,
    delete_resources,
    file_payloads,
    get_resources,
    iter_resources,
    stored_sources,
    upsert_resources,
)
from marketplace.catalog.resource import Resource
from marketplace.catalog.thumbnails import indexed_hashes, iter_with_pictures, local_thumbnails, with_pictures
from marketplace.store.catalog_generation import catalog_generation
from marketplace.store.models import ResourceRow, ThumbnailRow

Progress = Callable[[int], None]
FINGERPRINT_FILE = "db_fingerprint"  # in the index folder: the catalog state it was last synced to


@dataclass(slots=True)
class ContentReport:
    """What loading content/ into the database did."""

    scanned: int = 0
    parsed: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    problems: list[CatalogProblem] = field(default_factory=list)


@dataclass(slots=True)
class IndexReport:
    """What bringing the index up to date did."""

    rebuilt: bool = False
    indexed: int = 0
    deleted: int = 0
    total: int = 0


def load_content(session: Session, content_dir: Path, *, full: bool = False) -> ContentReport:
    """Load changed, new and deleted files of content/ into the database (the caller commits)."""
    report = ContentReport()
    present = scan_sources(content_dir)
    report.scanned = len(present)
    stored = stored_sources(session)
    attachments = file_payloads(session)
    if full:
        changed = list(present)
    else:
        # A file resource's stored stamp covers its attachment too, so it never equals the file's own stamp:
        # those are compared apart, with the attachment stat'ed.
        changed = [relative for relative, stamp in present.items()
                   if stored.stamps.get(relative) != stamp and relative not in attachments]
        changed += [relative for relative, payload in attachments.items() if relative in present and (
            stored.stamps[relative] != fingerprint(content_dir / relative, attachment_path(content_dir, payload)))]
    report.parsed = len(changed)
    owners: dict[str, str] = {}  # id -> source path, made only when a file brings an id its path did not have
    accepted_ids: set[str] = set()

    def owner_of(resource_id: str) -> str | None:
        if not owners:
            owners.update(zip(stored.ids.values(), stored.ids.keys(), strict=True))
        return owners.get(resource_id)

    def accepted() -> Iterator[Resource]:
        """The parsed files that may be stored, streamed: the catalog is never held whole (100,000 files
        were a gigabyte). A file that now declares another id frees its old row first (paths are unique)."""
        paths = [content_dir / relative for relative in in_source_order(changed)]
        for outcome in parsed_resources(content_dir, paths):
            if isinstance(outcome, CatalogProblem):
                report.problems.append(outcome)
                continue
            previous_id = stored.ids.get(outcome.source_path)
            if previous_id != outcome.id:
                owner = owner_of(outcome.id)
                if owner is not None and owner != outcome.source_path and owner in present:
                    report.problems.append(
                        CatalogProblem(outcome.source_path, 1, f"id {outcome.id!r} is already used by {owner}"))
                    continue
            if previous_id is not None and previous_id != outcome.id:
                report.removed += delete_resources(session, [previous_id])
            accepted_ids.add(outcome.id)
            yield outcome

    report.added, report.updated = upsert_resources(session, accepted())
    # Rows whose file is gone, unless another file took their id (it was updated in place above).
    gone = [resource_id for path, resource_id in stored.ids.items()
            if path not in present and resource_id not in accepted_ids]
    report.removed += delete_resources(session, gone)
    session.flush()
    return report


@contextlib.contextmanager
def index_lock(index_dir: Path, *, wait: bool = True) -> Iterator[bool]:
    """The host's lock on its index folder: one writer at a time (`marketplace index`, the replica of each
    worker). Yields False, without waiting, when `wait` is off and another process holds it."""
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(index_dir.parent / "index.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


def catalog_fingerprint(session: Session) -> str:
    """A value that changes whenever a resource or a thumbnail is added, changed or removed: the resource
    count first (0 means nothing was ever indexed), then the catalog generation, which every catalog change
    moves, then the counts and newest change times that a previous release's writes move (it serves while
    `marketplace db upgrade` runs, and does not know the generation)."""
    # Read from indexes (alembic 0011), never from the tables: every worker asks every 15 seconds, and the
    # thumbnails table holds the pictures. A thumbnail has its bytes exactly when it has a making time.
    resources = session.execute(select(func.count(), func.max(ResourceRow.updated_at))).one()
    thumbnails = session.execute(select(func.count(ThumbnailRow.made_at), func.max(ThumbnailRow.made_at))).one()
    return "|".join(str(value) for value in (resources[0], catalog_generation(session), resources[1],
                                             *thumbnails))


def synced_fingerprint(index_dir: Path) -> str | None:
    """The catalog fingerprint the index at `index_dir` was last synced to."""
    try:
        return (index_dir / FINGERPRINT_FILE).read_text(encoding="utf-8")
    except OSError:
        return None


def sync_index(session: Session, index_dir: Path, *, rebuild: bool = False, progress: Progress | None = None,
               workers: int | None = None) -> IndexReport:
    """Make the index at `index_dir` hold exactly the database's resources (under the host's index lock), and
    record which state of the catalog it now holds."""
    with index_lock(index_dir):
        fingerprint = catalog_fingerprint(session)
        report = _sync_index(session, index_dir, rebuild=rebuild, progress=progress, workers=workers)
        (index_dir / FINGERPRINT_FILE).write_text(fingerprint, encoding="utf-8")
        return report


def _sync_index(session: Session, index_dir: Path, *, rebuild: bool, progress: Progress | None,
                workers: int | None) -> IndexReport:
    report = IndexReport()
    # Documents carry their thumbnails (made by `make_thumbnails`), and the manifest records a hash of
    # content and thumbnail together: a thumbnail made or changed since the last build rewrites that document.
    thumbnails = local_thumbnails(session)
    if rebuild or not index_exists(index_dir) or not analysis_is_current(index_dir):
        report.rebuilt = True
        streamed = iter_with_pictures(iter_resources(session), thumbnails)
        report.indexed = build_index(index_dir, streamed, workers=workers, progress=progress)
        report.total = report.indexed
        return report
    stored = indexed_hashes(content_hashes(session), thumbnails)
    indexed = read_manifest(index_dir)
    changed_ids = [resource_id for resource_id, digest in stored.items() if indexed.get(resource_id) != digest]
    deleted_ids = [resource_id for resource_id in indexed if resource_id not in stored]
    if changed_ids or deleted_ids:
        apply_changes(index_dir, with_pictures(get_resources(session, changed_ids), thumbnails), deleted_ids,
                      manifest=indexed)
        if progress:
            progress(len(changed_ids) + len(deleted_ids))
    report.indexed = len(changed_ids)
    report.deleted = len(deleted_ids)
    report.total = len(stored)
    return report
