"""SQLite connections that queue for the database's one write lock instead of sleeping for it.

SQLite lets one writer in at a time. A connection that finds the write lock taken retries from SQLite's busy
handler, which sleeps 1, 2, 5 ... up to 100 ms between tries. Under load (two server processes, many request
threads, four short write transactions per deep-linking round trip) a writer that has waited a while sleeps
100 ms at a time while newer ones slip in: round trips took seconds at the 95th percentile with ten users.

These connections take an exclusive lock on a file next to the database before their first writing statement
and hold it until the transaction ends (commit, rollback or close). A waiting writer tries again every 0.5 to
2 ms (a blocking flock would wait forever, with no timeout), so it gets in within a couple of milliseconds of
the lock coming free. Readers never take it (WAL mode lets them read beside the writer).
Every process that writes through `make_engine` queues the same way; any other writer (the sqlite3 shell,
say) still meets SQLite's own lock and busy timeout, so correctness never depends on the file lock.

Python's sqlite3 offers no busy-handler hook, so this wraps the connection and cursor classes it lets us
substitute (`sqlite3.connect(factory=...)`).
"""

from __future__ import annotations

import fcntl
import os
import re
import sqlite3
import time
from collections.abc import Iterable
from typing import Any

# Statements that write: the first one of a transaction takes the lock. Python's sqlite3 opens a transaction
# only before these (reads run outside one), so the lock is never taken mid-snapshot.
_WRITING = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER", "BEGIN")
LOCK_POLL_SECONDS = (0.0005, 0.001, 0.002)  # waits between tries while the lock is busy, then the last repeats


_held_in_process: set[int] = set()  # descriptors of the locks this process holds
_fork_hook_registered = False


# A statement that opens with common table expressions writes when its main statement does: the first of these
# words after the WITH is found conservatively, anywhere in it (a read that names one takes the lock for nothing).
_WITH_WRITING = re.compile(r"\s*WITH\b", re.IGNORECASE)
_WRITES_AFTER_WITH = re.compile(r"\b(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


def _writes(statement: str) -> bool:
    opening = statement.lstrip()[:7].upper()
    if opening.startswith(_WRITING):
        return True
    return opening.startswith("WITH") and _WRITES_AFTER_WITH.search(statement) is not None


def _drop_inherited_locks() -> None:
    """In a forked child: close the parent's lock descriptors. A flock belongs to the open file, which a fork
    shares: a child keeping it open would hold the lock after the parent's commit, until the child exits."""
    for descriptor in list(_held_in_process):
        try:
            os.close(descriptor)
        except OSError:
            pass
    _held_in_process.clear()


def _watch_forks() -> None:
    """Registered on first use, not at import (importing this module changes nothing)."""
    global _fork_hook_registered  # noqa: PLW0603 - a once-per-process registration
    if not _fork_hook_registered:
        os.register_at_fork(after_in_child=_drop_inherited_locks)
        _fork_hook_registered = True


class WriteQueuedConnection(sqlite3.Connection):
    """A sqlite3 connection whose write transactions queue on `<database>.write-lock`."""

    def __init__(self, database: str | bytes | os.PathLike[str], *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self._lock_path = os.fspath(database) if not isinstance(database, bytes) else database.decode()
        self._lock_path += ".write-lock"
        self._wait_limit = float(kwargs.get("timeout", 5.0))
        self._held: tuple[int, int] | None = None  # (descriptor, the process that opened it)

    def cursor(self, factory: Any = None) -> Any:  # noqa: ANN401 - sqlite3's own signature
        return super().cursor(factory or WriteQueuedCursor)

    def queue_for_writing(self, statement: str) -> None:
        """Take the write lock before the first writing statement of a transaction (waiting as long as the
        connection's own timeout, then failing as SQLite would: 'database is locked')."""
        if self._held is not None or not _writes(statement):
            return
        descriptor = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + self._wait_limit
        tries = 0
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(descriptor)
                    raise sqlite3.OperationalError("database is locked") from None
                time.sleep(LOCK_POLL_SECONDS[min(tries, len(LOCK_POLL_SECONDS) - 1)])
                tries += 1
                continue
            except BaseException:
                os.close(descriptor)
                raise
            _watch_forks()
            self._held = (descriptor, os.getpid())
            _held_in_process.add(descriptor)
            return

    def _release(self) -> None:
        if self._held is not None:
            (descriptor, opened_by), self._held = self._held, None
            # In a forked child the inherited descriptor is already closed, and its number may since belong to
            # another file: only the process that opened it closes it.
            if opened_by == os.getpid():
                _held_in_process.discard(descriptor)
                # Unlocked before it is closed: a child forked a moment ago may not have closed its copy of
                # the descriptor yet, and a close alone leaves the lock held until every copy is closed.
                fcntl.flock(descriptor, fcntl.LOCK_UN)
                os.close(descriptor)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release()

    def __del__(self) -> None:
        # A connection dropped without close() must not keep the lock (and every writer waiting) alive.
        try:
            self._release()
        except Exception:  # noqa: BLE001, S110 - at interpreter exit the module may already be torn down
            pass


class WriteQueuedCursor(sqlite3.Cursor):
    """A cursor that queues its connection for the write lock before a writing statement."""

    def execute(self, sql: str, parameters: Any = (), /) -> WriteQueuedCursor:  # noqa: ANN401
        self._queue(sql)
        super().execute(sql, parameters)
        return self

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any], /) -> WriteQueuedCursor:
        self._queue(sql)
        super().executemany(sql, seq_of_parameters)
        return self

    def _queue(self, sql: str) -> None:
        connection = self.connection
        if isinstance(connection, WriteQueuedConnection):
            connection.queue_for_writing(sql)
            if connection.isolation_level is not None and not connection.in_transaction \
                    and _WITH_WRITING.match(sql) and _writes(sql):
                # Python's sqlite3 opens its implicit transaction only before a statement that starts with
                # INSERT, UPDATE, DELETE or REPLACE: a write behind a WITH would commit on its own, and a
                # rollback would not undo it. (A connection in autocommit mode, isolation level None, is left so.)
                connection.execute("BEGIN")
