"""PostgreSQL stopped under a running tool and started again: /readyz says so and recovers, pages fail fast with
a 503 that says to try again, /healthz stays alive, and no restart of the tool is needed."""

from __future__ import annotations

import dataclasses
import time

from starlette.testclient import TestClient

from marketplace.app import create_app
from marketplace.settings import Settings
from tests.conftest import prepare_app_data
from tests.private_postgres import private_postgres


def test_readyz_and_pages_through_a_postgres_restart(settings: Settings) -> None:
    with private_postgres() as server:
        configured = dataclasses.replace(settings, database_url=server.url)
        prepare_app_data(configured)
        with TestClient(create_app(configured), raise_server_exceptions=False) as client:
            assert client.get("/readyz").status_code == 200
            assert client.get("/resources/plant-cells").status_code == 200

            server.stop()
            started = time.monotonic()
            ready = client.get("/readyz")
            assert ready.status_code == 503
            database = ready.json()["checks"]["database"]
            assert not database["ok"] and "cannot be reached" in database["problem"]
            assert client.get("/healthz").status_code == 200  # alive: restarting it would not help
            page = client.get("/resources/plant-cells")
            assert page.status_code == 503 and "Try again in a minute" in page.text
            assert page.headers["retry-after"] == "5" and "Traceback" not in page.text
            api = client.get("/api/catalog/resources/plant-cells")
            assert api.status_code == 503 and "database" in api.json()["error"]["message"]
            assert time.monotonic() - started < 20  # failed fast, not after TCP timeouts

            server.start()
            assert client.get("/readyz").status_code == 200  # same app, same engine: recovered
            assert client.get("/resources/plant-cells").status_code == 200
