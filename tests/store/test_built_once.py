"""The round trip's hot statements are built once and reused: each call binds new values to the same statement
object (SQLAlchemy then finds its compiled form without building the statement or its cache key again)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from marketplace.catalog.records import get_resources
from marketplace.lti.keys import active_kid, ensure_keys
from marketplace.store.database import make_engine, make_session_factory, upgrade_database
from marketplace.store.models import PlatformRow
from marketplace.store.picker import favourite_ids, recent_ids, record_uses, set_favourite
from marketplace.store.registrations import add_deployment, add_platform, find_deployment, find_platform

SECRET = "built-once-" + "k" * 40


@contextmanager
def _recorded(database_url: str) -> Iterator[tuple[Session, list[Any]]]:
    """A session on a migrated database, with every statement it executes appended to the list."""
    upgrade_database(database_url)
    engine = make_engine(database_url)
    executed: list[Any] = []
    event.listen(engine, "before_execute", lambda _conn, statement, *_rest: executed.append(statement))
    try:
        with make_session_factory(engine)() as session:
            yield session, executed
    finally:
        engine.dispose()


def _platform(session: Session) -> PlatformRow:
    return add_platform(session, issuer="https://lms.example", client_id="c1", name="LMS",
                        auth_login_url="https://lms.example/auth", auth_token_url="https://lms.example/token",
                        key_set_url="https://lms.example/jwks")


def test_hot_reads_run_the_same_statement_objects_with_new_values(database_url: str) -> None:
    with _recorded(database_url) as (session, executed):
        platform = _platform(session)
        add_deployment(session, platform, "d1")
        ensure_keys(session, SECRET)
        session.commit()
        reads: list[Callable[[Session, int], object]] = [
            lambda s, n: favourite_ids(s, platform.id, f"user-{n}"),
            lambda s, n: recent_ids(s, platform.id, f"user-{n}", limit=5 + n),
            lambda s, n: find_platform(s, "https://lms.example", "c1" if n else "c2"),
            lambda s, n: find_platform(s, f"https://other-{n}.example", None),
            lambda s, n: find_deployment(s, platform, f"d{n}"),
            lambda s, n: active_kid(s),
            lambda s, n: get_resources(s, [f"r-{n}", f"r-{n + 1}"][: n + 1]),
        ]
        for read in reads:
            statements = []
            for n in (0, 1):
                executed.clear()
                read(session, n)
                assert len(executed) == 1
                statements.append(executed[0])
            assert statements[0] is statements[1]


def test_upserts_run_one_statement_per_shape_with_their_rows_as_parameters(database_url: str) -> None:
    """record_uses (one row or several) and the favourite star run the same upsert objects every call, and
    still insert, update on the unique key, or leave a row alone."""
    with _recorded(database_url) as (session, executed):
        platform = _platform(session)
        session.commit()
        uses = []
        for resource_ids in (["a"], ["b", "c"], ["a", "d"]):
            executed.clear()
            record_uses(session, platform.id, "teacher", resource_ids)
            uses.append(executed[0])
        assert uses[0] is uses[1] is uses[2]
        assert recent_ids(session, platform.id, "teacher", limit=10)[:2] in (["a", "d"], ["d", "a"])
        assert sorted(recent_ids(session, platform.id, "teacher", limit=10)) == ["a", "b", "c", "d"]
        stars = []
        for _ in range(2):  # the second star of the same resource is ignored, not an error
            executed.clear()
            set_favourite(session, platform.id, "teacher", "a", True)
            stars.append(next(statement for statement in executed if "favourite" in str(statement)))
        assert stars[0] is stars[1] and favourite_ids(session, platform.id, "teacher") == ["a"]
