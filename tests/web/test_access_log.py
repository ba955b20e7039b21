"""Access log lines hold no signed links, handoff codes or tokens (issue 10, finding 10)."""

from __future__ import annotations

import logging

import pytest
from starlette.testclient import TestClient

from marketplace.app import create_app
from marketplace.settings import Settings
from marketplace.store.database import upgrade_database
from marketplace.web.access_log import redact_path


def test_the_app_redacts_secret_query_values_in_uvicorn_access_lines(settings: Settings,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    upgrade_database(settings.database_url)
    with TestClient(create_app(settings)):
        pass  # start-up installs the filter
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    logger = logging.getLogger("uvicorn.access")
    for path in ("/portfolio/files/7?expires=1733400000&signature=abcDEF123secret",
                 "/lti/app?handoff=one-time-code-secret",
                 "/lti/register?openid_configuration=https%3A%2F%2Flms.example%2Fc&registration_token=tok-secret"):
        logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", path, "1.1", 200)
    text = caplog.text
    assert "secret" not in text and "1733400000" not in text and "lms.example" not in text
    assert "/portfolio/files/7?expires=[redacted]&signature=[redacted]" in text


def test_other_query_values_stay_readable() -> None:
    assert redact_path("/?q=water+cycle&subject=biology") == "/?q=water+cycle&subject=biology"
    assert redact_path("/healthz") == "/healthz"
