"""Insert-or-ignore and insert-or-update on a unique key, safe when two requests race.

"Look, then insert" fails one of two concurrent requests on the unique key (a 500, and the rest of its
transaction lost): a teacher's deep-linking answer failed this way under load on PostgreSQL when two of their
answers recorded the same recent use. `INSERT … ON CONFLICT` settles the race in the database. SQLite (3.24+)
and PostgreSQL spell it the same way; SQLAlchemy only offers it per dialect, so this module picks the
dialect's construct, and supports exactly those two engines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def _insert(session: Session, model: Any) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model)
    if dialect == "sqlite":
        return sqlite.insert(model)
    raise NotImplementedError(f"upserts are written for SQLite and PostgreSQL, not {dialect}")


def insert_or_ignore(session: Session, model: Any, values: Mapping[str, Any], keys: Sequence[str]) -> None:
    """Insert the row unless one with the same `keys` exists (then leave that one as it is)."""
    session.execute(_insert(session, model).values(**values).on_conflict_do_nothing(index_elements=list(keys)))


def insert_or_update(session: Session, model: Any, rows: Sequence[Mapping[str, Any]], keys: Sequence[str],
                     updated: Sequence[str], *, only_if_changed: Sequence[str] = ()) -> None:
    """Insert each row, or update the `updated` columns of the row with the same `keys`; with
    `only_if_changed`, only when one of those columns differs (a hot row is then not rewritten, and not
    locked, by every request that finds it as it is)."""
    if not rows:
        return
    statement = _insert(session, model).values([dict(row) for row in rows])
    changed = or_(*(getattr(model, column).is_distinct_from(statement.excluded[column])
                    for column in only_if_changed)) if only_if_changed else None
    statement = statement.on_conflict_do_update(
        index_elements=list(keys), set_={column: statement.excluded[column] for column in updated}, where=changed)
    session.execute(statement)
