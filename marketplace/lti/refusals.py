"""Recent launch refusals, kept for the operator's page (the log has them too, with the same reference)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from marketplace.store.models import LaunchRefusalRow

logger = logging.getLogger("marketplace.lti")
KEEP = 1000  # the newest refusals kept; older ones are dropped as new ones arrive


@dataclass(frozen=True, slots=True)
class Refusal:
    check: str
    status: int
    message: str
    path: str
    reference: str
    refused_at: datetime


def record_refusal(sessions: sessionmaker[Session], refusal: Refusal) -> None:
    """Store one refusal (blocking). Best effort: a refusal page must not fail because the database is away."""
    try:
        with sessions() as session:
            # Read before writing (on SQLite the write lock is held from the first write to the commit): the
            # next id is about one more than the newest, near enough to decide when to trim.
            newest = (session.scalar(select(func.max(LaunchRefusalRow.id))) or 0) + 1
            session.add(LaunchRefusalRow(check=refusal.check[:60], status=refusal.status,
                                         message=refusal.message[:1000], path=refusal.path[:200],
                                         reference=refusal.reference[:20], refused_at=refusal.refused_at))
            if newest > KEEP and newest % 100 == 0:  # trim now and then, not on every refusal
                session.execute(delete(LaunchRefusalRow).where(LaunchRefusalRow.id <= newest - KEEP))
            session.commit()
    except Exception as error:  # noqa: BLE001 - the refusal is logged either way
        logger.warning("launch refusal %s not recorded: %s", refusal.reference, type(error).__name__)


def recent_refusals(sessions: sessionmaker[Session], limit: int = 50) -> list[Refusal]:
    with sessions() as session:
        rows = session.scalars(select(LaunchRefusalRow).order_by(LaunchRefusalRow.id.desc()).limit(limit))
        return [Refusal(row.check, row.status, row.message, row.path, row.reference, row.refused_at) for row in rows]
