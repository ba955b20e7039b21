"""Resources with their pictures, as lists of cards show them, kept per process for a replica's interval.

The picker's first screen shows the same suggestions (the platform's most used, the newest) to every
instructor who opens it, and reading them back with their thumbnails was two queries and a fifth of the
screen's time. A resource edited in the catalog reaches search through this host's replica within its check
interval (CatalogReplica); cards follow in the same time: each is kept CARD_SECONDS at most, and all of them
are dropped when the replica sees the catalog change.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Sequence

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from marketplace.catalog.records import get_resources
from marketplace.catalog.thumbnails import PicturedResource, local_thumbnails, with_pictures

CARD_SECONDS = 15.0  # as long as a replica's check interval
MAX_CARDS = 5000  # per engine; past it the cache starts again (a card is a few kilobytes)


def read_cards(session: Session, resource_ids: Sequence[str]) -> dict[str, PicturedResource]:
    """Resource id -> the resource with its picture, read from the database now."""
    if not resource_ids:
        return {}
    wanted = list(resource_ids)
    return {resource.id: resource
            for resource in with_pictures(get_resources(session, wanted), local_thumbnails(session, wanted))}


class CardCache:
    """`read_cards` per engine (one per app: tests and hosts never share one), each card for CARD_SECONDS."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_engine: weakref.WeakKeyDictionary[Engine, dict[str, tuple[float, PicturedResource | None]]] = (
            weakref.WeakKeyDictionary())

    def get(self, session: Session, resource_ids: Sequence[str]) -> dict[str, PicturedResource]:
        """The cards of `resource_ids` that exist (a resource gone from the catalog is remembered as gone)."""
        engine = session.get_bind()
        if not isinstance(engine, Engine):  # a session bound to one connection (a test's): nothing to share
            return read_cards(session, resource_ids)
        now = time.monotonic()
        found: dict[str, PicturedResource] = {}
        missing: list[str] = []
        with self._lock:
            cached = self._by_engine.setdefault(engine, {})
            for resource_id in dict.fromkeys(resource_ids):
                entry = cached.get(resource_id)
                if entry is None or now - entry[0] >= CARD_SECONDS:
                    missing.append(resource_id)
                elif entry[1] is not None:
                    found[resource_id] = entry[1]
        if missing:
            fresh = read_cards(session, missing)
            found.update(fresh)
            with self._lock:
                cached = self._by_engine.setdefault(engine, {})
                if len(cached) + len(missing) > MAX_CARDS:
                    cached.clear()
                for resource_id in missing:
                    cached[resource_id] = (now, fresh.get(resource_id))
        return found

    def forget(self) -> None:
        """Read every card again next time (the replica saw the catalog change)."""
        with self._lock:
            self._by_engine.clear()


cards = CardCache()
