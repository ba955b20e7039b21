"""The launch behind a request: its token (header or form field) resolved to a LaunchContext."""

from __future__ import annotations

from starlette.requests import Request

from marketplace.clock import utc_now
from marketplace.lti.context import LaunchContext
from marketplace.lti.launched import context_for_token
from marketplace.web.services import services


def launch_context(request: Request, token: str | None) -> LaunchContext:
    """The LaunchContext of a launch token (blocking: call it in a thread)."""
    app = services(request)
    return context_for_token(app.sessions, app.settings.secret_key, token, utc_now())
