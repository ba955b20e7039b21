"""The launch behind a later request of a launched page: its launch token resolved to a LaunchContext."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, sessionmaker

from marketplace.logs import bind_trace
from marketplace.lti import launch_token
from marketplace.lti.context import LaunchContext
from marketplace.lti.errors import LtiRefusal
from marketplace.store.models import LaunchRow, PlatformRow, table_of

_LAUNCHES = table_of(LaunchRow)
_PLATFORMS = table_of(PlatformRow)
# Every request of a launched page starts with this read (the picker page, each search, each tray change, the
# answer), so it is built once, on the tables rather than the mapped classes, and reads only the columns a
# LaunchContext needs: constructing an ORM select and loading a whole LaunchRow (its three JSON columns) cost
# several times the query itself. The columns are still SQLAlchemy's (types, JSON and dates portable).
_CONTEXT_OF_LAUNCH = (
    select(_LAUNCHES.c.id, _LAUNCHES.c.platform_id, _LAUNCHES.c.state, _LAUNCHES.c.claims,
           _LAUNCHES.c.confirmed_at, _LAUNCHES.c.expires_at, _LAUNCHES.c.selection,
           _LAUNCHES.c.responded_at.is_not(None).label("responded"),
           _PLATFORMS.c.client_id, _PLATFORMS.c.name)
    .join_from(_LAUNCHES, _PLATFORMS, _PLATFORMS.c.id == _LAUNCHES.c.platform_id)
    .where(_LAUNCHES.c.id == bindparam("launch_id"))
)


def context_for_token(sessions: sessionmaker[Session], secret_key: str, token: str | None,
                      now: datetime) -> LaunchContext:
    """The LaunchContext of a valid launch token whose launch was confirmed and has not expired (blocking);
    LtiRefusal (401) otherwise."""
    launch_id = launch_token.read(token, secret_key)
    with sessions() as session:
        row = session.execute(_CONTEXT_OF_LAUNCH, {"launch_id": launch_id}).first()
    if row is None or row.confirmed_at is None:
        raise LtiRefusal("launch_unknown", "This session is not valid here. Open the tool again from your course.",
                         401)
    if row.expires_at < now:
        raise LtiRefusal("launch_expired", "This session has expired. Open the tool again from your course.", 401)
    bind_trace(row.state)  # the picker's requests and the response join the launch's trace
    return LaunchContext.from_claims(row.id, row.claims, client_id=row.client_id, platform_name=row.name,
                                     platform_id=row.platform_id, selection=tuple(row.selection or ()),
                                     responded=bool(row.responded))


def platform_of_launch(sessions: sessionmaker[Session], launch_id: str) -> int:
    """The platform a (verified, stored) launch came from."""
    with sessions() as session:
        row = session.get(LaunchRow, launch_id)
        if row is None:
            raise LtiRefusal("launch_unknown", "This session is not valid here. Open the tool again from your course.",
                             401)
        return int(row.platform_id)
