"""This host's search index as a replica of the catalog in the database.

The database is the catalog's one truth (`marketplace catalog publish` or `marketplace index` writes it); every
host keeps a Whoosh index in its own data folder and brings it up to date when the database's catalog changes,
so hosts share no filesystem. The change is seen by the catalog fingerprint (the catalog generation, which
every catalog change moves in its own transaction, with row counts and newest change times); a worker checks it
every CHECK_SECONDS.

Several workers on one host share the host's index folder: a file lock lets one of them sync it, and the others
pick the new generation up by its stamp, as they pick up any index change. Searches go on against the open
generation while a sync or a rebuild runs (see `CatalogIndex.refresh`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from marketplace.catalog.cards import cards
from marketplace.catalog.compaction import CompactionFailedError, compact_in_child, needs_compaction
from marketplace.catalog.search import CatalogIndex
from marketplace.catalog.sync import catalog_fingerprint, index_lock, sync_index, synced_fingerprint
from marketplace.metrics import metrics
from marketplace.store.picker import recent_newest

logger = logging.getLogger("marketplace.catalog")
CHECK_SECONDS = 15.0
COMPACTION_RETRY_SECONDS = 600


class CatalogReplica:
    """Keeps `index_dir` holding what the database's catalog holds."""

    def __init__(self, sessions: sessionmaker[Session], index_dir: Path, catalog: CatalogIndex) -> None:
        self.sessions = sessions
        self.index_dir = index_dir
        self.catalog = catalog
        self.syncs = 0  # syncs this process ran (tests and the operator's page read it)
        self.compactions = 0  # compactions this process ran
        self._compaction_retry_at = 0.0  # monotonic time before which no compaction is tried (after a failure)

    def catch_up(self) -> bool:
        """Sync the index if the database changed since it was last synced on this host (blocking); True if
        this process synced it. Empty catalogs are left alone (`marketplace index` has not run anywhere)."""
        with self.sessions() as session:
            fingerprint = catalog_fingerprint(session)
            if fingerprint == synced_fingerprint(self.index_dir) or fingerprint.startswith("0|"):
                return False
            recent_newest.forget()  # the catalog changed: the picker's newest list and cards are read again
            cards.forget()
            with index_lock(self.index_dir, wait=False) as free:
                if not free:
                    return False  # another worker of this host is syncing; its new generation reaches us too
            report = sync_index(session, self.index_dir)
        self.syncs += 1
        logger.info("catalog replica synced", extra={"indexed": report.indexed, "deleted": report.deleted,
                                                       "rebuilt": report.rebuilt, "total": report.total})
        self.catalog.refresh()
        return True

    async def compact(self, stop: asyncio.Event | None = None) -> bool:
        """Compact this host's index in a child process if the merge policy asks for it (compaction.py) and
        load the result; True if it compacted. Another process holding the index lock defers it; a failed
        compaction is logged and not tried again for COMPACTION_RETRY_SECONDS (the index serves as it is)."""
        if time.monotonic() < self._compaction_retry_at:
            return False
        if not await asyncio.to_thread(needs_compaction, self.index_dir):
            return False
        with index_lock(self.index_dir, wait=False) as free:
            if not free:
                return False
        try:
            if not await compact_in_child(self.index_dir, stop):
                return False
        except (CompactionFailedError, OSError) as error:
            metrics().index_compactions.labels("failed").inc()
            self._compaction_retry_at = time.monotonic() + COMPACTION_RETRY_SECONDS
            logger.warning("catalog index not compacted (next try in %d s): %s", COMPACTION_RETRY_SECONDS, error)
            return False
        self.compactions += 1
        metrics().index_compactions.labels("compacted").inc()
        await asyncio.to_thread(self.catalog.refresh)
        return True

    async def run_forever(self, stop: asyncio.Event, interval: float = CHECK_SECONDS) -> None:
        """Catch up now and then every `interval` seconds until `stop`, compacting the index after each check;
        a failure (the database away) is logged and tried again at the next check, the open index serving
        meanwhile."""
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.catch_up)
            except Exception as error:  # noqa: BLE001 - the replica must outlive any one failed sync
                logger.warning("catalog replica not synced: %s: %s", type(error).__name__, error)
            try:
                await self.compact(stop)
            except Exception as error:  # noqa: BLE001 - a failed compaction leaves a usable index; retried
                logger.warning("catalog index not compacted: %s: %s", type(error).__name__, error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
