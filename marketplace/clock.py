"""The one clock: the current moment, and moments as AGS and the database want them.

Every stored moment is UTC. Columns use `store.models.UtcDateTime`, which gives back aware datetimes on both
engines (SQLite drops the zone), so no caller repairs a naive datetime; `aware` remains for moments read
from outside (a platform's JSON, a cookie).
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """Now, aware, in UTC."""
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    """`moment` in UTC: a naive one is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds, the sub-second precision AGS timestamps need."""
    return aware(moment).isoformat(timespec="microseconds")


def parse_iso(value: str) -> datetime:
    return aware(datetime.fromisoformat(value))
