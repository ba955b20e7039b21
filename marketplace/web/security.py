"""Security headers on every response (pure ASGI middleware, so streaming responses are untouched).

Each request gets a CSP nonce (in `request.state.csp_nonce`) for the rare inline script; frame-ancestors
lists only the registered platforms' origins.
"""

from __future__ import annotations

import logging
import re
import secrets

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from marketplace.web.frame_ancestors import FrameAncestors

logger = logging.getLogger("marketplace.web")


_SOURCE = re.compile(r"^(?:https?:|https?://(?:\*\.)?[a-z0-9.-]+(?::\d{1,5})?|https?://\[[0-9a-f:.]+\](?::\d{1,5})?)$")


def _safe_sources(sources: str) -> str:
    """`sources` unchanged when every entry is a plain origin (or a bare scheme), else "" (only 'self').

    The policy is built from stored data; one entry with ";", ",", a quote or a non-Latin character would
    add directives or make the header impossible to send. Refusing the whole list falls back to the safest
    policy for that response rather than guessing which part to keep.
    """
    entries = sources.split()
    if all(_SOURCE.match(entry) for entry in entries):
        return " ".join(entries)
    logger.error("refused unsafe CSP sources; this response allows framing by 'self' only")
    return ""


def content_security_policy(nonce: str, platform_origins: str, *, form_targets: str = "") -> str:
    """The policy; `platform_origins` (space-separated) may frame us and receive our form posts, and so may
    `form_targets` (e.g. the return URL of one deep-linking response)."""
    platform_origins, form_targets = _safe_sources(platform_origins), _safe_sources(form_targets)
    platforms = f" {platform_origins}" if platform_origins else ""
    targets = f" {form_targets}" if form_targets else ""
    return (
        "default-src 'self'; img-src 'self' https: data:; frame-src https:; style-src 'self'; "
        f"script-src 'self' 'nonce-{nonce}'; object-src 'none'; base-uri 'none'; "
        f"form-action 'self'{platforms}{targets}; frame-ancestors 'self'{platforms}"
    )


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, frame_ancestors: FrameAncestors | None = None) -> None:
        self.app = app
        self.frame_ancestors = frame_ancestors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(16)
        scope.setdefault("state", {})["csp_nonce"] = nonce
        ancestors = ""
        if self.frame_ancestors is not None:
            if self.frame_ancestors.stale:
                await run_in_threadpool(self.frame_ancestors.refresh)
            ancestors = self.frame_ancestors.value
        policy = content_security_policy(nonce, ancestors)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", policy)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
            await send(message)

        await self.app(scope, receive, send_with_headers)
