"""Reading many rows of plain columns at the driver's speed.

A re-index of a few files still reads one short row per resource (its path and stamp, its id and content hash):
100,000 rows at a district's catalog. Through SQLAlchemy each row became a `Row` and passed the result
processors; that was about half of reading them. Here the statement is still built and compiled by SQLAlchemy
(so it stays portable between SQLite and PostgreSQL), but run on the DB-API cursor of the session's own
connection, inside its transaction, and the driver's tuples are returned as they are.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session


def plain_rows(session: Session, statement: Select[*tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The rows of `statement` as the driver returns them. For text and number columns only: JSON and date
    columns come back in each driver's own form. The statement must take no parameters (so that no
    paramstyle differs between drivers); the session is flushed first, as `session.execute` would be."""
    session.flush()
    connection = session.connection()
    compiled = statement.compile(dialect=connection.dialect)
    if compiled.params:
        raise ValueError("plain_rows runs statements without parameters only")
    cursor = connection.connection.cursor()
    try:
        cursor.execute(str(compiled))
        return [tuple(row) for row in cursor.fetchall()]
    finally:
        cursor.close()
