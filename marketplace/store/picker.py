"""Query functions for the picker: the tray of a launch, favourites and recent uses. They never commit."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from marketplace.store.models import FavouriteRow, LaunchRow, RecentUseRow, utc_now

MAX_TRAY = 50
RECENT_SHOWN = 8


def set_selected(session: Session, launch: LaunchRow, resource_id: str, selected: bool, *, single: bool) -> list[str]:
    """Add or remove one resource in the launch's tray; a single-item placement keeps only the latest."""
    current = [item for item in launch.selection or [] if item != resource_id]
    if selected:
        current = [resource_id] if single else [*current, resource_id][:MAX_TRAY]
    launch.selection = current
    session.flush()
    return current


def favourite_ids(session: Session, platform_id: int, user_sub: str) -> list[str]:
    query = (select(FavouriteRow.resource_id)
             .where(FavouriteRow.platform_id == platform_id, FavouriteRow.user_sub == user_sub)
             .order_by(FavouriteRow.created_at.desc()))
    return list(session.scalars(query))


def set_favourite(session: Session, platform_id: int, user_sub: str, resource_id: str, favourite: bool) -> None:
    existing = session.get(FavouriteRow, (platform_id, user_sub, resource_id))
    if favourite and existing is None:
        session.add(FavouriteRow(platform_id=platform_id, user_sub=user_sub, resource_id=resource_id,
                                 created_at=utc_now()))
    elif not favourite and existing is not None:
        session.delete(existing)
    session.flush()


def recent_ids(session: Session, platform_id: int, user_sub: str, limit: int = RECENT_SHOWN) -> list[str]:
    query = (select(RecentUseRow.resource_id)
             .where(RecentUseRow.platform_id == platform_id, RecentUseRow.user_sub == user_sub)
             .order_by(RecentUseRow.used_at.desc()).limit(limit))
    return list(session.scalars(query))


def record_uses(session: Session, platform_id: int, user_sub: str, resource_ids: Iterable[str]) -> None:
    """Remember that these resources were just sent to a course (portable upsert: delete, then insert)."""
    ids = list(dict.fromkeys(resource_ids))
    if not ids:
        return
    session.execute(delete(RecentUseRow).where(RecentUseRow.platform_id == platform_id,
                                               RecentUseRow.user_sub == user_sub,
                                               RecentUseRow.resource_id.in_(ids)))
    now = utc_now()
    session.add_all(RecentUseRow(platform_id=platform_id, user_sub=user_sub, resource_id=resource_id, used_at=now)
                    for resource_id in ids)
    session.flush()
