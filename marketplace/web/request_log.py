"""One structured log line and one latency observation per HTTP request, with its request id.

A pure ASGI middleware (not BaseHTTPMiddleware, which would buffer streamed downloads): it takes the load
balancer's `X-Request-ID` when it is a plain token, or makes one, puts it in the logging scope
(`marketplace.logs`) and on the response, and when the response is done writes the request line. Paths are
logged with secret query values redacted (`access_log.redact_path`); the route label of the latency metric
is the route's template, so ids in paths do not multiply the series.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Sequence

from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from marketplace.logs import begin_request
from marketplace.metrics import metrics
from marketplace.web.access_log import redact_path

logger = logging.getLogger("marketplace.request")
REQUEST_ID_HEADER = "x-request-id"
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")


def request_id_from(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER.encode():
            given = bytes(value).decode("latin-1")
            if _SAFE_REQUEST_ID.fullmatch(given):
                return given
    return uuid.uuid4().hex


def route_labels(routes: Sequence[BaseRoute]) -> Callable[[Scope], str]:
    """The function that names a served request's route: its template (`/resources/{resource_id:str}`), the
    mount's prefix for static files, "unmatched" for anything else (so 404 scans add no series)."""
    by_endpoint = {route.endpoint: route.path for route in routes if isinstance(route, Route)}
    mounts = [route.path for route in routes if isinstance(route, Mount)]

    def route_of(scope: Scope) -> str:
        endpoint = scope.get("endpoint")
        if endpoint in by_endpoint:
            return by_endpoint[endpoint]
        path = str(scope.get("path", ""))
        return next((f"{mount}/{{path}}" for mount in mounts if path.startswith(mount + "/")), "unmatched")

    return route_of


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp, route_of: Callable[[Scope], str]) -> None:
        self.app = app
        self.route_of = route_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        begin_request(request_id)
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before starting a response

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER.encode(), request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = self.route_of(scope)
            method = str(scope.get("method", ""))
            metrics().request_seconds.labels(method, route, str(status)).observe(seconds)
            query = scope.get("query_string", b"").decode("latin-1")
            path = redact_path(scope.get("path", "") + (f"?{query}" if query else ""))
            client = scope.get("client")
            logger.info("%s %s %s", method, path, status, extra={
                "method": method, "path": path, "route": route, "status": status,
                "duration_ms": round(seconds * 1000, 2), "client": client[0] if client else None,
            })
