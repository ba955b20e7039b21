"""Query functions for the picker: the tray of a launch, favourites and recent uses. They never commit."""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

from sqlalchemy import Engine, bindparam, delete, func, select
from sqlalchemy.orm import Session

from marketplace.clock import utc_now
from marketplace.store.models import FavouriteRow, LaunchRow, RecentUseRow, ResourceRow, table_of
from marketplace.store.upsert import insert_or_ignore, insert_or_update

MAX_TRAY = 50
RECENT_SHOWN = 8
# The newest list changes only when the catalog does; each process reuses it this long, as long as a replica's
# check interval (a catalog edit reaches search in the same time), so that a first screen need not read it.
NEWEST_FRESH_SECONDS = 15.0
MOST_USED_READ = 30  # the most used list read once for every caller (the first screen needs at most 20)
K = TypeVar("K", bound=Hashable)
MAX_KEPT_KEYS = 10_000  # per engine and list (platforms); past it the cache starts again


def set_selected(session: Session, launch: LaunchRow, resource_id: str, selected: bool, *, single: bool) -> list[str]:
    """Add or remove one resource in the launch's tray; a single-item placement keeps only the latest."""
    current = [item for item in launch.selection or [] if item != resource_id]
    if selected:
        current = [resource_id] if single else [*current, resource_id][:MAX_TRAY]
    launch.selection = current
    session.flush()
    return current


_FAVOURITES = table_of(FavouriteRow)
_RECENT_USES = table_of(RecentUseRow)
# The picker page reads a user's favourites and recent uses on every open and every search; the statements are
# built once, on the tables (building an ORM select and its cache key each time cost more than running it).
_FAVOURITE_IDS = (select(_FAVOURITES.c.resource_id)
                  .where(_FAVOURITES.c.platform_id == bindparam("platform_id"),
                         _FAVOURITES.c.user_sub == bindparam("user_sub"))
                  .order_by(_FAVOURITES.c.created_at.desc()))
_RECENT_IDS = (select(_RECENT_USES.c.resource_id)
               .where(_RECENT_USES.c.platform_id == bindparam("platform_id"),
                      _RECENT_USES.c.user_sub == bindparam("user_sub"))
               .order_by(_RECENT_USES.c.used_at.desc())
               .limit(bindparam("limit")))


def favourite_ids(session: Session, platform_id: int, user_sub: str) -> list[str]:
    return list(session.scalars(_FAVOURITE_IDS, {"platform_id": platform_id, "user_sub": user_sub}))


def set_favourite(session: Session, platform_id: int, user_sub: str, resource_id: str, favourite: bool) -> None:
    """Star or unstar, idempotently: a double click (two requests at once) stars once and fails neither."""
    key = {"platform_id": platform_id, "user_sub": user_sub, "resource_id": resource_id}
    if favourite:
        insert_or_ignore(session, FavouriteRow, {**key, "created_at": utc_now()}, list(key))
    else:
        session.execute(delete(FavouriteRow).where(FavouriteRow.platform_id == platform_id,
                                                   FavouriteRow.user_sub == user_sub,
                                                   FavouriteRow.resource_id == resource_id))
    session.flush()


def recent_ids(session: Session, platform_id: int, user_sub: str, limit: int = RECENT_SHOWN) -> list[str]:
    return list(session.scalars(_RECENT_IDS, {"platform_id": platform_id, "user_sub": user_sub, "limit": limit}))


def record_uses(session: Session, platform_id: int, user_sub: str, resource_ids: Iterable[str]) -> None:
    """Remember that these resources were just sent to a course (an upsert: two answers at once both count)."""
    now = utc_now()
    rows = [{"platform_id": platform_id, "user_sub": user_sub, "resource_id": resource_id, "used_at": now}
            for resource_id in dict.fromkeys(resource_ids)]
    insert_or_update(session, RecentUseRow, rows, ["platform_id", "user_sub", "resource_id"], ["used_at"])
    session.flush()


def most_used_ids(session: Session, platform_id: int, limit: int) -> list[str]:
    """The resources most instructors of this platform have sent to a course, most first."""
    users = func.count(RecentUseRow.user_sub)
    query = (select(RecentUseRow.resource_id)
             .where(RecentUseRow.platform_id == platform_id)
             .group_by(RecentUseRow.resource_id)
             .order_by(users.desc(), func.max(RecentUseRow.used_at).desc(), RecentUseRow.resource_id)
             .limit(limit))
    return list(session.scalars(query))


def newest_ids(session: Session, limit: int, scan: int = 500) -> list[str]:
    """The resources added to the catalog most recently, the subjects taken in turn among equally new ones.

    Resources added on the same day count as equally new: a catalog loaded in one go would otherwise come out
    in its load order (the alphabetical list this screen replaces), so each subject gets a turn instead.
    """
    query = (select(ResourceRow.id, ResourceRow.subject_id, ResourceRow.created_at)
             .order_by(ResourceRow.created_at.desc(), ResourceRow.id).limit(scan))
    batches: dict[object, dict[str, list[str]]] = {}  # day -> subject -> ids
    for resource_id, subject, created in session.execute(query):
        batches.setdefault(created.date(), {}).setdefault(subject, []).append(resource_id)
    chosen: list[str] = []
    for by_subject in batches.values():  # newest batch first (dicts keep insertion order)
        queues = list(by_subject.values())
        while queues and len(chosen) < limit:
            for queue in queues:
                if queue and len(chosen) < limit:
                    chosen.append(queue.pop(0))
            queues = [queue for queue in queues if queue]
        if len(chosen) >= limit:
            break
    return chosen


class _KeptPerEngine(Generic[K]):
    """Answers of one query, per engine (one per app: tests and hosts never share one) and key, each reused for
    NEWEST_FRESH_SECONDS."""

    def __init__(self, read: Callable[[Session, K], list[str]]) -> None:
        self._read = read
        self._lock = threading.Lock()
        self._by_engine: weakref.WeakKeyDictionary[Engine, dict[K, tuple[float, list[str]]]] = (
            weakref.WeakKeyDictionary())

    def _get(self, session: Session, key: K) -> list[str]:
        engine = session.get_bind()
        if not isinstance(engine, Engine):  # a session bound to one connection (a test's): nothing to share
            return self._read(session, key)
        now = time.monotonic()
        with self._lock:
            cached = self._by_engine.get(engine, {}).get(key)
        if cached is not None and now - cached[0] < NEWEST_FRESH_SECONDS:
            return list(cached[1])
        fresh = self._read(session, key)
        with self._lock:
            kept = self._by_engine.setdefault(engine, {})
            if len(kept) >= MAX_KEPT_KEYS:
                kept.clear()
            kept[key] = (now, fresh)
        return list(fresh)

    def forget(self) -> None:
        """Read the database again next time (after a catalog change this process made itself)."""
        with self._lock:
            self._by_engine.clear()


class _NewestCache(_KeptPerEngine[int]):
    """`newest_ids` (the catalog's newest) for NEWEST_FRESH_SECONDS."""

    def __init__(self) -> None:
        super().__init__(newest_ids)

    def get(self, session: Session, limit: int) -> list[str]:
        return self._get(session, limit)


class _MostUsedCache(_KeptPerEngine[int]):
    """`most_used_ids` of a platform for NEWEST_FRESH_SECONDS: an aggregate over every recorded use of the
    platform (it grows with its instructors), run on every picker opened; "most used" a few seconds late is
    as true as ever. Read MOST_USED_READ deep, so that every caller's limit is one cached answer."""

    def __init__(self) -> None:
        super().__init__(lambda session, platform_id: most_used_ids(session, platform_id, MOST_USED_READ))

    def get(self, session: Session, platform_id: int, limit: int) -> list[str]:
        if limit > MOST_USED_READ:
            return most_used_ids(session, platform_id, limit)
        return self._get(session, platform_id)[:limit]


recent_newest = _NewestCache()
recent_most_used = _MostUsedCache()
