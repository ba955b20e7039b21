"""Two requests writing the same unique row at once: both succeed (ON CONFLICT), where "look, then insert"
failed the second with a 500 on PostgreSQL (found by bench/launch.py at 50 users: deep-linking answers of one
teacher recording the same recent use)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from marketplace.clock import utc_now
from marketplace.lti import claims
from marketplace.lti.course_copies import record_copy, remember_link
from marketplace.store.database import make_engine, make_session_factory, upgrade_database
from marketplace.store.models import CourseCopyRow, FavouriteRow, RecentUseRow, ResourceLinkRow
from marketplace.store.picker import record_uses, set_favourite
from marketplace.store.registrations import add_platform


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    upgrade_database(database_url)
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    with factory() as session:
        add_platform(session, issuer="https://lms.example", client_id="c", name="LMS",
                     auth_login_url="https://lms.example/a", auth_token_url="https://lms.example/t",
                     key_set_url="https://lms.example/j")
        session.commit()
    yield factory
    engine.dispose()


def race(sessions: sessionmaker[Session], write: Callable[[Session], None]) -> None:
    """The same write in two transactions that overlap: the second starts while the first is uncommitted."""
    first = sessions()
    write(first)  # holds the row (PostgreSQL) or the database (SQLite) until it commits
    outcome: dict[str, object] = {}

    def second() -> None:
        with sessions() as session:
            try:
                write(session)
                session.commit()
                outcome["ok"] = True
            except Exception as error:  # noqa: BLE001 - reported by the assertion below
                outcome["error"] = error

    thread = threading.Thread(target=second)
    thread.start()
    time.sleep(0.3)  # the second write is now waiting for the first
    first.commit()
    first.close()
    thread.join(30)
    assert outcome == {"ok": True}


def count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_recent_uses_of_two_answers_at_once(sessions: sessionmaker[Session]) -> None:
    race(sessions, lambda session: record_uses(session, 1, "teacher", ["a", "b"]))
    assert count(sessions, RecentUseRow) == 2


def test_a_double_click_on_the_star(sessions: sessionmaker[Session]) -> None:
    race(sessions, lambda session: set_favourite(session, 1, "teacher", "a", True))
    assert count(sessions, FavouriteRow) == 1


def test_two_learners_opening_the_same_link(sessions: sessionmaker[Session]) -> None:
    body = {claims.CONTEXT: {"id": "course"}, claims.RESOURCE_LINK: {"id": "link", "title": "Quiz"},
            claims.CUSTOM: {"resource_id": "quiz"}}
    race(sessions, lambda session: remember_link(session, 1, body, utc_now()))
    assert count(sessions, ResourceLinkRow) == 1


def test_two_notices_of_the_same_copy(sessions: sessionmaker[Session]) -> None:
    race(sessions, lambda session: record_copy(session, 1, "d", "copy", "origin", "n", utc_now()))
    assert count(sessions, CourseCopyRow) == 1


def test_a_link_row_is_rewritten_only_when_the_link_changed(sessions: sessionmaker[Session]) -> None:
    body = {claims.CONTEXT: {"id": "course"}, claims.RESOURCE_LINK: {"id": "link", "title": "Quiz"},
            claims.CUSTOM: {"resource_id": "quiz"}}
    first = utc_now()
    with sessions() as session:
        remember_link(session, 1, body, first)
        session.commit()
        remember_link(session, 1, body, first.replace(year=first.year + 1))  # the same link, launched again
        session.commit()
        row = session.scalars(select(ResourceLinkRow)).one()
        assert row.last_launch_at == first and row.resource_id == "quiz"
        moved = {**body, claims.CUSTOM: {"resource_id": "other-quiz"}}
        remember_link(session, 1, moved, first.replace(year=first.year + 2))
        session.commit()
        session.expire_all()
        row = session.scalars(select(ResourceLinkRow)).one()
        assert row.resource_id == "other-quiz" and row.last_launch_at.year == first.year + 2
