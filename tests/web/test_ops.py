"""Operators' view: alive and ready checks, Prometheus metrics behind a token, and JSON log lines that carry a
request id (and a launch's trace id) but never a secret."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from marketplace import logs
from marketplace.app import create_app
from marketplace.settings import Settings
from tests.conftest import prepare_app_data

TOKEN = "m" * 40


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    prepare_app_data(settings)
    with TestClient(create_app(dataclasses.replace(settings, metrics_token=TOKEN))) as test_client:
        yield test_client


def sample(text: str, name: str, **labels: str) -> float:
    """One sample's value from the Prometheus text format (0 when absent)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else "") + r" ([0-9.e+-]+)"
    match = re.search(pattern, text)
    return float(match.group(1)) if match else 0.0


def scrape(client: TestClient) -> str:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return response.text


def test_metrics_need_the_token_outside_development(client: TestClient, settings: Settings) -> None:
    refused = client.get("/metrics")
    assert refused.status_code == 403 and "MARKETPLACE_METRICS_TOKEN" in refused.json()["error"]["message"]
    assert client.get("/metrics", headers={"Authorization": "Bearer " + "w" * 40}).status_code == 403
    with TestClient(create_app(settings)) as closed:  # no token configured: closed, and it says how to open it
        assert "set MARKETPLACE_METRICS_TOKEN" in closed.get("/metrics").json()["error"]["message"]
    with TestClient(create_app(dataclasses.replace(settings, environment="development"))) as development:
        assert development.get("/metrics").status_code == 200


def test_requests_searches_and_grade_jobs_are_counted(client: TestClient) -> None:
    before = scrape(client)
    route = "/api/catalog/resources/{resource_id:str}"
    labels = {"method": "GET", "route": route, "status": "200"}
    searches = sample(before, "marketplace_search_duration_seconds_count")
    client.get("/api/catalog/resources/plant-cells")
    client.get("/api/catalog/resources/french-revolution")
    client.get("/api/catalog/search", params={"q": "cells"})
    client.get("/no/such/page")
    after = scrape(client)
    assert sample(after, "marketplace_http_request_duration_seconds_count", **labels) == \
        sample(before, "marketplace_http_request_duration_seconds_count", **labels) + 2
    assert sample(after, "marketplace_search_duration_seconds_count") == searches + 1
    assert 'route="unmatched"' in after and "/no/such/page" not in after  # no series per unknown path
    assert sample(after, "marketplace_grade_jobs", state="pending") == 0
    assert 'marketplace_grade_jobs{state="failed"}' in after


def test_readyz_names_keys_this_secret_cannot_open(client: TestClient, settings: Settings) -> None:
    assert client.get("/readyz").status_code == 200
    other = dataclasses.replace(settings, secret_key="z" * 40)  # the keys were sealed with another secret
    with TestClient(create_app(other), raise_server_exceptions=False) as wrong:
        ready = wrong.get("/readyz")
    assert ready.status_code == 503
    keys = ready.json()["checks"]["keys"]
    assert not keys["ok"] and "cannot be decrypted" in keys["problem"] and "MARKETPLACE_SECRET_KEY" in keys["advice"]


def test_a_request_id_is_taken_or_made_and_returned(client: TestClient) -> None:
    given = client.get("/healthz", headers={"X-Request-ID": "lb-1234abcd"})
    assert given.headers["x-request-id"] == "lb-1234abcd"
    made = client.get("/healthz", headers={"X-Request-ID": "bad id\n"})
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])


def test_log_lines_are_json_with_ids_and_without_secrets(client: TestClient,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    handler = logging.StreamHandler()
    config = logs.logging_config("INFO", json_lines=True)
    handler.setFormatter(_formatter(config))  # the formatter `marketplace serve` configures
    handler.addFilter(logs.ContextFilter())
    logger = logging.getLogger("marketplace.request")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        client.get("/portfolio/files/7?expires=1&signature=abcdef", headers={"X-Request-ID": "req-00000001"})
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    [line] = [line for line in lines if line.get("request_id") == "req-00000001"]
    assert line["level"] == "INFO" and line["logger"] == "marketplace.request" and line["status"] == 403
    assert line["route"] == "/portfolio/files/{item_id:str}" and isinstance(line["duration_ms"], float)
    assert "abcdef" not in json.dumps(line) and "signature=[redacted]" in line["path"]


def _formatter(config: dict[str, object]) -> logging.Formatter:
    from pythonjsonlogger.json import JsonFormatter

    spec = dict(config["formatters"]["main"])  # type: ignore[index]
    spec.pop("()")
    return JsonFormatter(**spec)


def test_the_trace_id_follows_the_state_and_hides_it() -> None:
    scope = logs.begin_request("r-1")
    logs.bind_trace("the-oidc-state")
    assert scope.trace_id == logs.trace_of("the-oidc-state") and "state" not in scope.trace_id
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    record.id_token = "eyJ.secret"
    record.launch_token = "eyJ.other"
    logs.ContextFilter().filter(record)
    assert record.request_id == "r-1" and record.trace_id == scope.trace_id
    assert record.id_token == logs.REDACTED and record.launch_token == logs.REDACTED
