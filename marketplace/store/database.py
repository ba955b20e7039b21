"""Engine and sessions, and the schema-version check that keeps the app off an out-of-date database."""

from __future__ import annotations

import ast
import functools
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, column, create_engine, event, inspect, select, table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from marketplace.shipped import migrations_dir
from marketplace.store.sqlite_writes import WriteQueuedConnection

if TYPE_CHECKING:
    from alembic.config import Config

logger = logging.getLogger(__name__)


class SchemaOutOfDateError(RuntimeError):
    """The database is missing migrations; the message names the command to run."""


CONNECT_TIMEOUT_SECONDS = 5
POOL_SIZE = 10
POOL_OVERFLOW = 10
IDLE_PING_SECONDS = 10.0

def make_engine(database_url: str) -> Engine:
    """An engine for `database_url`; SQLite gets foreign keys and a busy timeout, and its folder is created."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        connect_args: dict[str, Any] = {"timeout": 30}
        pool: dict[str, Any] = {}
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            # Writers queue on a file lock rather than sleeping in SQLite's busy handler (sqlite_writes.py).
            connect_args["factory"] = WriteQueuedConnection
            # As many pooled connections as PostgreSQL gets: with the default five, busy request threads
            # opened and closed a connection (and its pragmas) per request.
            pool = {"pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW}
        engine = create_engine(url, connect_args=connect_args, **pool)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection, _record):  # type: ignore[no-untyped-def]
            cursor = connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    # connect_timeout: with the server away, requests fail within seconds (and get a 503 page) instead of
    # waiting on TCP. The pool keeps POOL_SIZE connections and opens up to POOL_OVERFLOW more in a burst
    # (each worker process has its own pool: size the server's max_connections for workers x hosts).
    engine = create_engine(url, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW,
                           connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS})
    _ping_idle_connections(engine)
    return engine


def _ping_idle_connections(engine: Engine) -> None:
    """A connection that sat in the pool for IDLE_PING_SECONDS is pinged before use and replaced if the server
    dropped it (a restart, a failover), so the tool recovers without a restart.

    SQLAlchemy's own `pool_pre_ping` pings on every checkout: one more round trip for every session, a fifth
    of a launched page's statements. A connection in steady use needs none: if the server went away under it,
    its next statement fails, the request gets the 503 page, and SQLAlchemy then discards the whole pool."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection, record):  # type: ignore[no-untyped-def]
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, _proxy):  # type: ignore[no-untyped-def]
        idle_since = record.info.get("checked_in_at")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # noqa: BLE001 - any failure means the connection is gone
            raise DisconnectionError(f"pooled connection dropped: {error}") from error
        if not alive:
            raise DisconnectionError("pooled connection dropped")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(database_url: str) -> Config:
    """The Alembic configuration for this package's migrations, pointed at `database_url`."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade_database(database_url: str, revision: str = "head") -> None:
    """Apply migrations up to `revision`."""
    from alembic import command

    make_engine(database_url).dispose()  # creates the SQLite folder if needed
    command.upgrade(alembic_config(database_url), revision)


@functools.cache
def _shipped_migrations() -> tuple[str | None, frozenset[str]]:
    """(latest revision, every revision) of the migrations this release ships, read once per process (/readyz
    read the migration scripts on every call).

    Read from the scripts' own `revision` and `down_revision` assignments rather than through Alembic's
    ScriptDirectory: importing Alembic was a fifth of a second of every command's and worker's start, for two
    constants per file. tests/store/test_migrations.py checks that the answer equals Alembic's."""
    parents: dict[str, str | None] = {}
    for script in sorted((migrations_dir() / "versions").glob("*.py")):
        values = {
            target.id: statement.value.value
            for statement in ast.parse(script.read_text(encoding="utf-8")).body
            if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Constant)
            for target in statement.targets if isinstance(target, ast.Name)
        }
        revision, parent = values.get("revision"), values.get("down_revision")
        if isinstance(revision, str):
            parents[revision] = parent if isinstance(parent, str) else None
    heads = set(parents) - set(parents.values())
    if len(heads) > 1:
        raise RuntimeError(f"The shipped migrations have several heads: {sorted(heads)}")
    return (heads.pop() if heads else None), frozenset(parents)


def head_revision() -> str | None:
    """The latest migration this release ships (the same for every database)."""
    return _shipped_migrations()[0]


_VERSION = table("alembic_version", column("version_num"))


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at (None: no tables yet), read from Alembic's version table."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(_VERSION.name):
            return None
        revision: str | None = connection.execute(select(_VERSION.c.version_num)).scalar()
        return revision


@functools.cache
def _say_newer_once(current: str, head: str | None) -> None:
    """Logged once per process, not on every /readyz of a load balancer's checks."""
    logger.warning("The database is at revision %s, newer than this release's %s: serving until this host "
                   "runs the new release.", current, head)


def _schema_problem(current: str | None) -> str | None:
    """Why this release cannot run on a database at `current`, or None.

    A revision this release does not ship is a newer release's: `marketplace db upgrade` runs while the old
    code still serves, and migrations only add what old code does not read (README, Upgrading), so the old
    code keeps serving (and its /readyz stays green) until its host is restarted on the new release."""
    head, shipped = _shipped_migrations()
    if current == head:
        return None
    if current is not None and current not in shipped:
        _say_newer_once(current, head)
        return None
    if current is None:
        return "The database has no tables yet."
    return f"The database is at revision {current}, not {head}."


def database_problem(engine: Engine, database_url: str) -> str | None:
    """What keeps the database from serving (unreachable, or behind this release's migrations), or None."""
    try:
        current = current_revision(engine)
    except Exception as error:  # noqa: BLE001 - any failure to reach it is the answer
        return f"The database cannot be reached ({type(error).__name__})."
    problem = _schema_problem(current)
    return None if problem is None else f"{problem} Run `marketplace db upgrade`."


def check_schema(engine: Engine, database_url: str) -> None:
    """Raise SchemaOutOfDateError unless the database is at this release's latest migration (or a newer
    release's)."""
    problem = _schema_problem(current_revision(engine))
    if problem is not None:
        raise SchemaOutOfDateError(f"{problem} Run `marketplace db upgrade` (or `make run`), then start again.")
