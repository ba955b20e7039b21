"""The picker's newest list: read from the catalog newest first, kept per process for a few seconds (per
database), read again once it is stale or the replica saw the catalog change."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from marketplace.catalog.sync import load_content
from marketplace.store import picker
from marketplace.store.database import make_engine, make_session_factory, upgrade_database
from marketplace.store.models import ResourceRow
from marketplace.store.registrations import add_platform
from tests.conftest import write_resource


@pytest.fixture
def sessions(database_url: str, content_dir: Path) -> Iterator[sessionmaker[Session]]:
    upgrade_database(database_url)
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    with factory() as session:
        load_content(session, content_dir)
        session.commit()
    picker.recent_newest.forget()
    yield factory
    engine.dispose()


def test_the_newest_list_is_reused_until_stale_or_forgotten(sessions: sessionmaker[Session], content_dir: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    with sessions() as session:
        first = picker.recent_newest.get(session, limit=10)
        assert sorted(first) == sorted(["photosynthesis-basics", "plant-cells", "fractions-pizza",
                                        "french-revolution", "plate-tectonics"])
        write_resource(content_dir, "volcano-model", title="A volcano model",
                       description="Build an erupting volcano from baking soda and vinegar, and see why it erupts.")
        assert not load_content(session, content_dir).problems
        # The whole catalog was loaded on one day: make the new one a day newer, as a later edit would be.
        newest = session.get(ResourceRow, "plant-cells")
        assert newest is not None
        session.execute(update(ResourceRow).where(ResourceRow.id == "volcano-model")
                        .values(created_at=newest.created_at.replace(year=newest.created_at.year + 1)))
        session.commit()
        assert picker.recent_newest.get(session, limit=10) == first  # within NEWEST_FRESH_SECONDS: reused
        monkeypatch.setattr(picker, "NEWEST_FRESH_SECONDS", 0.0)
        assert picker.recent_newest.get(session, limit=10)[0] == "volcano-model"  # stale: read again
        monkeypatch.setattr(picker, "NEWEST_FRESH_SECONDS", 3600.0)
        session.execute(update(ResourceRow).where(ResourceRow.id == "volcano-model")
                        .values(created_at=newest.created_at.replace(year=newest.created_at.year - 1)))
        session.commit()
        assert picker.recent_newest.get(session, limit=10)[0] == "volcano-model"
        picker.recent_newest.forget()  # what the replica does when it sees the catalog change
        assert "volcano-model" not in picker.recent_newest.get(session, limit=5)


def test_each_database_has_its_own_newest_list(sessions: sessionmaker[Session], tmp_path: Path,
                                               content_dir: Path) -> None:
    other_url = f"sqlite:///{tmp_path / 'other.sqlite3'}"
    upgrade_database(other_url)
    other_engine = make_engine(other_url)
    try:
        with sessions() as session:
            assert picker.recent_newest.get(session, limit=10)
        with make_session_factory(other_engine)() as other:
            assert picker.recent_newest.get(other, limit=10) == []  # an empty catalog, not the first one's
    finally:
        other_engine.dispose()


def test_a_session_bound_to_one_connection_reads_the_list_every_time(sessions: sessionmaker[Session]) -> None:
    engine = sessions.kw["bind"]
    with engine.connect() as connection, Session(bind=connection) as session:
        assert picker.recent_newest.get(session, limit=3) == picker.newest_ids(session, 3)


def test_the_most_used_list_is_read_once_per_platform_until_stale(sessions: sessionmaker[Session],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The first screen's "most used by teachers here": an aggregate over every recorded use of a platform,
    read once per platform for NEWEST_FRESH_SECONDS, whatever limit each caller asks for."""
    with sessions() as session:
        platforms = [add_platform(session, issuer=f"https://lms{number}.example.edu", client_id="c",
                                  name=f"LMS {number}", auth_login_url="https://lms.example.edu/a",
                                  auth_token_url="https://lms.example.edu/t", key_set_url="https://lms.example.edu/k").id
                     for number in (1, 2)]
        picker.record_uses(session, platforms[0], "teacher-1", ["plant-cells", "fractions-pizza"])
        picker.record_uses(session, platforms[0], "teacher-2", ["plant-cells"])
        session.commit()
        statements: list[str] = []

        def count(*args: object) -> None:
            statements.append(str(args[2]))

        engine = session.get_bind()
        sqlalchemy_event.listen(engine, "before_cursor_execute", count)
        assert picker.recent_most_used.get(session, platforms[0], limit=10) == ["plant-cells", "fractions-pizza"]
        assert picker.recent_most_used.get(session, platforms[0], limit=1) == ["plant-cells"]
        assert picker.recent_most_used.get(session, platforms[1], limit=10) == []
        sqlalchemy_event.remove(engine, "before_cursor_execute", count)
        assert len(statements) == 2  # one read per platform
        for teacher in ("teacher-3", "teacher-4"):
            picker.record_uses(session, platforms[0], teacher, ["fractions-pizza"])
        session.commit()
        assert picker.recent_most_used.get(session, platforms[0], limit=10)[0] == "plant-cells"  # kept
        monkeypatch.setattr(picker, "NEWEST_FRESH_SECONDS", 0.0)
        assert picker.recent_most_used.get(session, platforms[0], limit=10) == ["fractions-pizza", "plant-cells"]
        deep = picker.MOST_USED_READ + 1  # a longer list than is kept is read as asked
        assert picker.recent_most_used.get(session, platforms[0], limit=deep) == ["fractions-pizza", "plant-cells"]
