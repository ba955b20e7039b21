"""The catalog generation: a counter that every transaction changing resources or thumbnails moves.

Every host's workers compare it (with the catalog's counts and newest change times) against what their index
was last synced to. Those counts and times alone miss a removal made together with a change stamped by a
host whose clock is behind, or a transaction that commits after a later-stamped one; the counter cannot,
because the transaction that changes the catalog bumps it before it commits.
"""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from marketplace.store.models import CatalogGenerationRow

_BUMPED = "catalog_generation_bumped"  # session.info: the transaction that already moved the counter


def mark_catalog_changed(session: Session) -> None:
    """Move the catalog generation by one in the session's transaction (once per transaction: a sync of
    100,000 resources writes in batches, and each batch calls this)."""
    current = session.get_transaction()
    if current is not None and session.info.get(_BUMPED) is current:
        return
    bumped = session.execute(
        update(CatalogGenerationRow).where(CatalogGenerationRow.id == 1)
        .values(value=CatalogGenerationRow.value + 1)).rowcount  # type: ignore[attr-defined]
    if bumped == 0:  # a schema made without the migration's first row (create_all)
        session.execute(insert(CatalogGenerationRow).values(id=1, value=1))
    session.info[_BUMPED] = session.get_transaction()


def catalog_generation(session: Session) -> int:
    """The current generation (0 when the counter was never written)."""
    return int(session.scalar(select(CatalogGenerationRow.value).where(CatalogGenerationRow.id == 1)) or 0)
