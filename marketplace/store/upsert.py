"""Insert-or-ignore and insert-or-update on a unique key, safe when two requests race.

"Look, then insert" fails one of two concurrent requests on the unique key (a 500, and the rest of its
transaction lost): a teacher's deep-linking answer failed this way under load on PostgreSQL when two of their
answers recorded the same recent use. `INSERT … ON CONFLICT` settles the race in the database. SQLite (3.24+)
and PostgreSQL spell it the same way; SQLAlchemy only offers it per dialect, so this module picks the
dialect's construct, and supports exactly those two engines.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from marketplace.store.models import table_of


def _insert_for(dialect: str, model: Any) -> Any:
    # On the table, not the mapped class: an ORM insert is annotated and sent through the ORM's bulk path on
    # every execution, which is the work building it once saves.
    table = table_of(model)
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"upserts are written for SQLite and PostgreSQL, not {dialect}")


# The statements are built once per dialect and shape and run with each call's rows as parameters (one row,
# or several as an executemany): building an upsert with its rows inline, and SQLAlchemy's cache key for it, on
# every call was 3.5% of the tool's CPU in a deep-linking round trip (the answer records each recent use).
@functools.cache
def _ignoring(dialect: str, model: Any, keys: tuple[str, ...]) -> Any:
    return _insert_for(dialect, model).on_conflict_do_nothing(index_elements=list(keys))


@functools.cache
def _updating(dialect: str, model: Any, keys: tuple[str, ...], updated: tuple[str, ...],
              only_if_changed: tuple[str, ...]) -> Any:
    statement = _insert_for(dialect, model)
    changed = or_(*(statement.table.c[column].is_distinct_from(statement.excluded[column])
                    for column in only_if_changed)) if only_if_changed else None
    return statement.on_conflict_do_update(
        index_elements=list(keys), set_={column: statement.excluded[column] for column in updated}, where=changed)


def insert_or_ignore(session: Session, model: Any, values: Mapping[str, Any], keys: Sequence[str]) -> None:
    """Insert the row unless one with the same `keys` exists (then leave that one as it is)."""
    session.execute(_ignoring(session.get_bind().dialect.name, model, tuple(keys)), dict(values))


def insert_or_update(session: Session, model: Any, rows: Sequence[Mapping[str, Any]], keys: Sequence[str],
                     updated: Sequence[str], *, only_if_changed: Sequence[str] = ()) -> None:
    """Insert each row, or update the `updated` columns of the row with the same `keys`; with
    `only_if_changed`, only when one of those columns differs (a hot row is then not rewritten, and not
    locked, by every request that finds it as it is). The rows must all name the same columns."""
    if not rows:
        return
    statement = _updating(session.get_bind().dialect.name, model, tuple(keys), tuple(updated),
                          tuple(only_if_changed))
    parameters = [dict(row) for row in rows]
    session.execute(statement, parameters if len(parameters) > 1 else parameters[0])
