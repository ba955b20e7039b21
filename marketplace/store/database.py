"""Engine and sessions, and the schema-version check that keeps the app off an out-of-date database."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from marketplace.shipped import migrations_dir


class SchemaOutOfDateError(RuntimeError):
    """The database is missing migrations; the message names the command to run."""


CONNECT_TIMEOUT_SECONDS = 5

def make_engine(database_url: str) -> Engine:
    """An engine for `database_url`; SQLite gets foreign keys and a busy timeout, and its folder is created."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection, _record):  # type: ignore[no-untyped-def]
            cursor = connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    # pre_ping: a connection the server dropped (a restart, a failover) is replaced before use, so the tool
    # recovers without a restart. connect_timeout: with the server away, requests fail within seconds (and
    # get a 503 page) instead of waiting on TCP.
    return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS})


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(database_url: str) -> Config:
    """The Alembic configuration for this package's migrations, pointed at `database_url`."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade_database(database_url: str, revision: str = "head") -> None:
    """Apply migrations up to `revision`."""
    from alembic import command

    make_engine(database_url).dispose()  # creates the SQLite folder if needed
    command.upgrade(alembic_config(database_url), revision)


def head_revision(database_url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def database_problem(engine: Engine, database_url: str) -> str | None:
    """What keeps the database from serving (unreachable, or not at the latest migration), or None."""
    try:
        current = current_revision(engine)
    except Exception as error:  # noqa: BLE001 - any failure to reach it is the answer
        return f"The database cannot be reached ({type(error).__name__})."
    head = head_revision(database_url)
    if current != head:
        return f"The database is at revision {current}, not {head}: run `marketplace db upgrade`."
    return None


def check_schema(engine: Engine, database_url: str) -> None:
    """Raise SchemaOutOfDateError unless the database is at the latest migration."""
    current = current_revision(engine)
    head = head_revision(database_url)
    if current != head:
        state = "has no tables yet" if current is None else f"is at revision {current}, not {head}"
        raise SchemaOutOfDateError(
            f"The database {state}. Run `marketplace db upgrade` (or `make run`), then start again."
        )
