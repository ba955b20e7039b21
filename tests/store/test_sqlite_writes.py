"""SQLite writers queue on a file lock next to the database (marketplace/store/sqlite_writes.py): held from a
transaction's first writing statement to its end, never by readers, never kept by a forked child, and a
writer that cannot get it in time fails as SQLite itself would."""

from __future__ import annotations

import fcntl
import gc
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from marketplace.store.database import make_engine
from marketplace.store.sqlite_writes import WriteQueuedConnection


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    made = make_engine(f"sqlite:///{tmp_path / 'queued.sqlite3'}")
    with made.begin() as connection:
        connection.execute(text("CREATE TABLE items (name VARCHAR(20))"))
    yield made
    made.dispose()


def lock_is_free(database: Path) -> bool:
    """Whether another open file could take the write lock now (it is given back at once)."""
    descriptor = os.open(f"{database}.write-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(descriptor)
    return True


def test_a_write_holds_the_lock_until_commit_or_rollback(engine: Engine, tmp_path: Path) -> None:
    database = tmp_path / "queued.sqlite3"
    with engine.connect() as connection:
        connection.execute(text("SELECT count(*) FROM items")).scalar_one()
        assert lock_is_free(database)  # reading takes nothing
        connection.execute(text("INSERT INTO items VALUES ('one')"))
        assert not lock_is_free(database)
        connection.commit()
        assert lock_is_free(database)
        connection.execute(text("UPDATE items SET name = 'two'"))
        assert not lock_is_free(database)
        connection.rollback()
        assert lock_is_free(database)
        connection.execute(text("DELETE FROM items"))
    assert lock_is_free(database)  # closing (back to the pool) ends the transaction
    with engine.connect() as connection:
        assert connection.execute(text("SELECT name FROM items")).scalars().all() == ["one"]


def test_a_second_writer_waits_for_the_first_then_writes(engine: Engine) -> None:
    first = engine.connect()
    first.execute(text("INSERT INTO items VALUES ('first')"))
    order: list[str] = []
    started = threading.Event()

    def second_writer() -> None:
        with engine.connect() as connection:
            started.set()
            connection.execute(text("INSERT INTO items VALUES ('second')"))
            order.append("second wrote")
            connection.commit()

    thread = threading.Thread(target=second_writer)
    thread.start()
    started.wait(5)
    thread.join(0.5)
    assert thread.is_alive() and order == []  # queued behind the first writer
    order.append("first committed")
    first.commit()
    first.close()
    thread.join(10)
    assert order == ["first committed", "second wrote"]
    with engine.connect() as connection:
        assert sorted(connection.execute(text("SELECT name FROM items")).scalars()) == ["first", "second"]


def test_a_writer_that_cannot_get_the_lock_fails_like_sqlite(engine: Engine, tmp_path: Path) -> None:
    database = tmp_path / "queued.sqlite3"
    holder = os.open(f"{database}.write-lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        connection = sqlite3.connect(database, timeout=0.2, factory=WriteQueuedConnection)
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            connection.cursor().execute("INSERT INTO items VALUES ('late')")
        assert connection.execute("SELECT count(*) FROM items").fetchone() == (0,)  # reads still work
        connection.close()
    finally:
        os.close(holder)
    assert lock_is_free(database)


def test_a_dropped_connection_gives_the_lock_back(tmp_path: Path) -> None:
    database = tmp_path / "dropped.sqlite3"
    connection = sqlite3.connect(database, factory=WriteQueuedConnection)
    connection.cursor().execute("CREATE TABLE items (name TEXT)")
    connection.commit()
    connection.cursor().execute("INSERT INTO items VALUES ('never committed')")
    assert not lock_is_free(database)
    del connection
    gc.collect()
    assert lock_is_free(database)


def test_a_forked_child_does_not_keep_the_parents_lock(engine: Engine, tmp_path: Path) -> None:
    database = tmp_path / "queued.sqlite3"
    connection = engine.connect()
    connection.execute(text("INSERT INTO items VALUES ('parent')"))
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # the child lives on past the parent's commit, as an index build worker does
        os.close(writing)
        # The inherited lock descriptor was closed at the fork; its number may now name another file, which
        # the inherited connection's end of transaction must leave open.
        other = os.open(os.devnull, os.O_RDONLY)
        inherited = connection.connection.dbapi_connection
        assert isinstance(inherited, WriteQueuedConnection)
        inherited._release()  # what its commit, rollback or close would do (SQLite itself is not touched)
        try:
            os.fstat(other)
        except OSError:
            os._exit(3)
        os.read(reading, 1)
        os._exit(0)
    os.close(reading)
    try:
        connection.commit()
        assert lock_is_free(database)  # the child still runs, and holds nothing
    finally:
        os.write(writing, b"x")
        os.close(writing)
        _, status = os.waitpid(child, 0)
        connection.close()
    assert os.waitstatus_to_exitcode(status) == 0  # 3: the child's release closed a file that was not its lock


def test_a_commit_frees_the_lock_while_a_copy_of_its_descriptor_is_still_open(
    engine: Engine, tmp_path: Path
) -> None:
    """A forked child holds a copy of the lock's descriptor until its fork hook closes it. The commit must
    free the lock for every copy at once (a close alone would leave it held while any copy is open)."""
    database = tmp_path / "queued.sqlite3"
    connection = engine.connect()
    connection.execute(text("INSERT INTO items VALUES ('held')"))
    queued = connection.connection.dbapi_connection
    assert isinstance(queued, WriteQueuedConnection) and queued._held is not None
    copy = os.dup(queued._held[0])  # what a fork gives the child, before its hook has run
    try:
        connection.commit()
        assert lock_is_free(database)
    finally:
        os.close(copy)
        connection.close()


def test_a_write_behind_common_table_expressions_queues_too(engine: Engine, tmp_path: Path) -> None:
    """`WITH … INSERT` writes as plainly as an INSERT; a `WITH … SELECT` reads."""
    database = tmp_path / "queued.sqlite3"
    with engine.connect() as connection:
        connection.execute(text("WITH named AS (SELECT 'one' AS name) SELECT name FROM named")).all()
        assert lock_is_free(database)
        connection.execute(text("WITH named AS (SELECT 'one' AS name) INSERT INTO items SELECT name FROM named"))
        assert not lock_is_free(database)
        connection.commit()
        assert lock_is_free(database)
        connection.execute(text("with gone as (select 'one' as name)\ndelete from items where name in gone"))
        assert not lock_is_free(database)
        connection.rollback()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT name FROM items")).scalars().all() == ["one"]
