"""Access log lines without secrets: query values that grant access are replaced by "[redacted]".

Uvicorn logs each request's full path. Signed portfolio download links (expires, signature), one-time
handoff codes, registration tokens and launch tokens ride in query strings, and a log line holding one is a
password-free key for whoever reads the logs. A filter on the access logger rewrites the path before any
handler formats it.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

ACCESS_LOGGER = "uvicorn.access"
SECRET_PARAMETERS = frozenset({
    "signature", "expires", "handoff", "registration_token", "openid_configuration", "launch_token", "token",
    "id_token", "state", "code", "lti_message_hint", "login_hint", "access_token", "jwt",
})
REDACTED = "[redacted]"


def redact_path(path: str) -> str:
    """`path` with the values of secret query parameters replaced."""
    parts = urlsplit(path)
    if not parts.query:
        return path
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    cleaned = [(name, REDACTED if name.lower() in SECRET_PARAMETERS else value) for name, value in pairs]
    return urlunsplit(("", "", parts.path, urlencode(cleaned, safe="[]"), ""))


class RedactSecrets(logging.Filter):
    """Rewrites the path argument of uvicorn's access log records (client, method, path, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_path(args[2]), *args[3:])
        return True


def install() -> None:
    """Add the filter to the access logger once (called at app start-up, after the server set up logging)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(existing, RedactSecrets) for existing in logger.filters):
        logger.addFilter(RedactSecrets())
