"""A launch as an operator sees it: counted by outcome and refusal reason, the platform's JWKS fetch counted by
status, and one trace id on the log lines of its login, its launch and its later requests."""

from __future__ import annotations

import logging

import pytest

from marketplace import logs
from marketplace.metrics import metrics
from tests.lti.conftest import LtiEnvironment
from tests.lti.peer import Scenario


def value(name: str, labels: dict[str, str]) -> float:
    registry = metrics().registry
    assert registry is not None  # one process in the tests
    return registry.get_sample_value(name, labels) or 0.0


def test_launches_and_jwks_fetches_are_counted(lti: LtiEnvironment) -> None:
    accepted = {"outcome": "accepted", "reason": ""}
    forged = {"outcome": "refused", "reason": "bad_signature"}
    jwks_ok = {"service": "jwks", "status": "200"}
    before = (value("marketplace_launches_total", accepted), value("marketplace_launches_total", forged),
              value("marketplace_platform_calls_total", jwks_ok))
    assert lti.launch().status_code == 200
    lti.peer.scenario = Scenario(signer="foreign")
    lti.browser.cookies.clear()
    assert lti.launch().headers["x-lti-check"] == "bad_signature"
    after = (value("marketplace_launches_total", accepted), value("marketplace_launches_total", forged),
             value("marketplace_platform_calls_total", jwks_ok))
    assert after[0] == before[0] + 1 and after[1] == before[1] + 1
    assert after[2] >= before[2] + 1  # the tool fetched the platform's key set at least once


def test_one_trace_id_follows_a_launch_from_login_to_its_later_requests(
        lti: LtiEnvironment, caplog: pytest.LogCaptureFixture) -> None:
    caplog.handler.addFilter(logs.ContextFilter())  # what `marketplace serve` configures on its handler
    with caplog.at_level(logging.INFO, logger="marketplace.request"):
        page = lti.launch()
        assert page.status_code == 200
        token = page.text.split('"X-Launch-Token": "', 1)[1].split('"', 1)[0]
        assert lti.browser.get(lti.tool_url + "/lti/whoami", headers={"X-Launch-Token": token}).status_code == 200
    lines = {record.__dict__.get("route"): record for record in caplog.records if record.name == "marketplace.request"}
    traced = [lines[route].__dict__.get("trace_id") for route in ("/lti/login", "/lti/launch", "/lti/whoami")]
    assert traced[0] and len(set(traced)) == 1, traced
    assert len({lines[route].__dict__["request_id"] for route in ("/lti/login", "/lti/launch")}) == 2
