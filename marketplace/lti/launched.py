"""The launch behind a later request of a launched page: its launch token resolved to a LaunchContext."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from marketplace.logs import bind_trace
from marketplace.lti import launch_token
from marketplace.lti.context import LaunchContext
from marketplace.lti.errors import LtiRefusal
from marketplace.store.models import LaunchRow, PlatformRow


def context_for_token(sessions: sessionmaker[Session], secret_key: str, token: str | None,
                      now: datetime) -> LaunchContext:
    """The LaunchContext of a valid launch token whose launch was confirmed and has not expired (blocking);
    LtiRefusal (401) otherwise."""
    launch_id = launch_token.read(token, secret_key)
    with sessions() as session:
        # One query for the launch and its platform: every request of a launched page starts here.
        found = session.execute(select(LaunchRow, PlatformRow.client_id, PlatformRow.name)
                                .join(PlatformRow, PlatformRow.id == LaunchRow.platform_id)
                                .where(LaunchRow.id == launch_id)).first()
        row = found[0] if found else None
        if found is None or row is None or row.confirmed_at is None:
            raise LtiRefusal("launch_unknown", "This session is not valid here. Open the tool again from your course.",
                             401)
        if row.expires_at < now:
            raise LtiRefusal("launch_expired", "This session has expired. Open the tool again from your course.", 401)
        bind_trace(row.state)  # the picker's requests and the response join the launch's trace
        return LaunchContext.from_claims(row.id, row.claims, client_id=found[1], platform_name=found[2],
                                         platform_id=row.platform_id, selection=tuple(row.selection or ()),
                                         responded=row.responded_at is not None)


def platform_of_launch(sessions: sessionmaker[Session], launch_id: str) -> int:
    """The platform a (verified, stored) launch came from."""
    with sessions() as session:
        row = session.get(LaunchRow, launch_id)
        if row is None:
            raise LtiRefusal("launch_unknown", "This session is not valid here. Open the tool again from your course.",
                             401)
        return int(row.platform_id)
