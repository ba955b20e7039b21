"""Structured logs: one JSON object a line, each with the request's id and the launch's trace id.

A launch crosses several requests (login, launch, the picker's requests, the deep-linking response) with a
trip through the platform in between, so a request id alone cannot follow it. The OIDC `state` is the one
value every step knows (the login makes it, the launch echoes it, the launch row keeps it), so the trace id is
derived from it: a one-way hash, since the state itself must not appear in logs.

JSON formatting is python-json-logger's; this module adds the ids and keeps secrets out: attributes named like
a credential are replaced before any handler formats the record (query strings are redacted separately, in
`web.access_log`).
"""

from __future__ import annotations

import hashlib
import logging
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

SECRET_FIELDS = frozenset({
    "id_token", "launch_token", "token", "access_token", "client_assertion", "jwt", "secret", "secret_key",
    "password", "authorization", "signature", "state", "nonce", "code", "private_key",
})
REDACTED = "[redacted]"


@dataclass(slots=True)
class RequestScope:
    """The ids of the request being served; mutable, because handlers running in worker threads (with a copy
    of the context) learn the trace id after the middleware that logs the request line has started."""

    request_id: str
    trace_id: str | None = None


_scope: ContextVar[RequestScope | None] = ContextVar("marketplace_request_scope", default=None)


def begin_request(request_id: str) -> RequestScope:
    """Start the scope of one request in the current context (the middleware calls this)."""
    scope = RequestScope(request_id)
    _scope.set(scope)
    return scope


def current_scope() -> RequestScope | None:
    return _scope.get()


def trace_of(state: str) -> str:
    """The trace id of the launch whose OIDC login made `state` (16 hex digits; the state is not recoverable)."""
    return hashlib.sha256(b"marketplace trace\0" + state.encode("utf-8")).hexdigest()[:16]


def bind_trace(state: str | None) -> None:
    """Tie the current request to the launch that `state` belongs to (no-op outside a request or without one)."""
    scope = _scope.get()
    if scope is not None and state:
        scope.trace_id = trace_of(state)


class ContextFilter(logging.Filter):
    """Adds `request_id` and `trace_id` to every record, and redacts attributes named like a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        scope = _scope.get()
        if scope is not None:
            record.request_id = scope.request_id
            if scope.trace_id:
                record.trace_id = scope.trace_id
        for name in SECRET_FIELDS & record.__dict__.keys():
            setattr(record, name, REDACTED)
        return True


def logging_config(level: str = "INFO", json_lines: bool = True) -> dict[str, Any]:
    """A `logging.config.dictConfig` for the app and uvicorn (passed as uvicorn's `log_config`).

    Uvicorn's own access log is off in JSON mode: `web.request_log` writes one line per request itself, inside
    the request's context, where the ids are known.
    """
    formatter: dict[str, Any] = (
        {"()": "pythonjsonlogger.json.JsonFormatter",
         "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
         "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
         "datefmt": "%Y-%m-%dT%H:%M:%S%z"}
        if json_lines else
        {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    )
    handler = {"class": "logging.StreamHandler", "formatter": "main", "filters": ["context"],
               "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}},
        "formatters": {"main": formatter},
        "handlers": {"main": handler},
        "root": {"handlers": ["main"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": ["main"], "level": level, "propagate": False},
            "uvicorn.error": {"handlers": ["main"], "level": level, "propagate": False},
            "uvicorn.access": {"handlers": ["main"], "level": level if not json_lines else "WARNING",
                               "propagate": False},
        },
    }
