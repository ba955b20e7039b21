"""The PostgreSQL pool's rule: a connection idle for IDLE_PING_SECONDS is pinged before use and replaced if the
server dropped it; one in steady use is not pinged at all (a ping is a round trip)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from marketplace.store import database
from marketplace.store.database import make_engine
from tests.conftest import POSTGRES_URL, skip_or_fail


@pytest.fixture
def postgres_engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Engine, list[bool]]]:
    """The tool's engine on the test server with a short idle window, and the outcome of every ping it makes."""
    if not POSTGRES_URL:
        skip_or_fail("PostgreSQL is not available: set MARKETPLACE_TEST_POSTGRES_URL")
    monkeypatch.setattr(database, "IDLE_PING_SECONDS", 0.5)
    engine = make_engine(POSTGRES_URL)
    pings: list[bool] = []
    real_ping = engine.dialect.do_ping

    def counted_ping(dbapi_connection: Any) -> bool:
        try:
            alive = real_ping(dbapi_connection)
        except Exception:
            pings.append(False)
            raise
        pings.append(bool(alive))
        return alive

    monkeypatch.setattr(engine.dialect, "do_ping", counted_ping)
    yield engine, pings
    engine.dispose()


def backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
    return int(pid)


def terminate(pid: int) -> None:
    """What a server restart or a failover does to one pooled connection."""
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    finally:
        admin.dispose()
    time.sleep(0.1)  # the backend exits asynchronously


def test_a_connection_in_steady_use_is_not_pinged(postgres_engine: tuple[Engine, list[bool]]) -> None:
    engine, pings = postgres_engine
    first = backend_pid(engine)
    for _ in range(5):
        assert backend_pid(engine) == first  # the same pooled connection, reused
    assert pings == []


def test_an_idle_connection_the_server_dropped_is_replaced_before_use(
        postgres_engine: tuple[Engine, list[bool]]) -> None:
    engine, pings = postgres_engine
    first = backend_pid(engine)
    terminate(first)
    time.sleep(0.6)  # past the idle window
    replacement = backend_pid(engine)  # no error reaches the caller
    assert replacement != first
    assert pings == [False]  # the dead one was pinged once and replaced; the new one needed no ping
    assert backend_pid(engine) == replacement and pings == [False]


def test_an_idle_connection_that_is_alive_is_pinged_and_kept(postgres_engine: tuple[Engine, list[bool]]) -> None:
    engine, pings = postgres_engine
    first = backend_pid(engine)
    time.sleep(0.6)
    assert backend_pid(engine) == first
    assert pings == [True]
