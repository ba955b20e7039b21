"""Moments as the database returns them (SQLite drops the zone: it is always UTC here) and as AGS wants them."""

from __future__ import annotations

from datetime import UTC, datetime


def aware(moment: datetime) -> datetime:
    """`moment` with its UTC zone restored when the database dropped it."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds, the sub-second precision AGS timestamps need."""
    return aware(moment).astimezone(UTC).isoformat(timespec="microseconds")


def parse_iso(value: str) -> datetime:
    return aware(datetime.fromisoformat(value))
