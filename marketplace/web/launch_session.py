"""The launch behind a request: its token (header or form field) resolved to a LaunchContext."""

from __future__ import annotations

from starlette.requests import Request

from marketplace.clock import utc_now
from marketplace.lti import launch_token
from marketplace.lti.context import LaunchContext
from marketplace.lti.errors import LtiRefusal
from marketplace.store.models import LaunchRow, PlatformRow
from marketplace.web.services import services


def launch_context(request: Request, token: str | None) -> LaunchContext:
    """The LaunchContext of a launch token (blocking: call it in a thread)."""
    launch_id = launch_token.read(token, services(request).settings.secret_key)
    with services(request).sessions() as session:
        row = session.get(LaunchRow, launch_id)
        if row is None or row.confirmed_at is None:
            raise LtiRefusal("launch_unknown", "This session is not valid here. Open the tool again from your course.",
                             401)
        if row.expires_at < utc_now():
            raise LtiRefusal("launch_expired", "This session has expired. Open the tool again from your course.", 401)
        platform = session.get(PlatformRow, row.platform_id)
        assert platform is not None  # noqa: S101 - foreign key
        return LaunchContext.from_claims(row.id, row.claims, client_id=platform.client_id, platform_name=platform.name)
