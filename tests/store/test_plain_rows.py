"""plain_rows (marketplace/store/plain_rows.py): a Core SELECT run on the session's own DB-API cursor, giving
the driver's tuples, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from marketplace.store.database import make_engine, make_session_factory, upgrade_database
from marketplace.store.models import SubjectRow
from marketplace.store.plain_rows import plain_rows


def test_rows_are_plain_tuples_and_include_what_the_session_has_not_committed(database_url: str) -> None:
    upgrade_database(database_url)
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            query = select(SubjectRow.id, SubjectRow.label).order_by(SubjectRow.id)
            expected = [tuple(row) for row in session.execute(query)]
            assert len(expected) == 12
            assert plain_rows(session, query) == expected
            assert all(type(row) is tuple for row in plain_rows(session, query))
            # A pending object is flushed first and read inside the same transaction, as session.execute would.
            session.add(SubjectRow(id="zz-astronomy", label="Astronomy"))
            assert plain_rows(session, query)[-1] == ("zz-astronomy", "Astronomy")
            session.rollback()
            assert len(plain_rows(session, query)) == 12
    finally:
        engine.dispose()


def test_a_statement_with_parameters_is_refused(database_url: str) -> None:
    """Each driver has its own paramstyle; the function runs fixed statements only, and says so."""
    upgrade_database(database_url)
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session, pytest.raises(ValueError, match="without parameters"):
            plain_rows(session, select(SubjectRow.id).where(SubjectRow.id == "biology"))
    finally:
        engine.dispose()
