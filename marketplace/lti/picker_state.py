"""What an instructor's picker remembers: the tray of a deep-linking launch (kept on its launch row, so it
survives new searches and several workers) and the instructor's favourites on that platform.

Each function is one transaction; the views call them and render the partial that changed.
"""

from __future__ import annotations

import dataclasses

from sqlalchemy.orm import Session, sessionmaker

from marketplace.catalog.records import get_resources
from marketplace.lti.context import LaunchContext
from marketplace.lti.errors import refused
from marketplace.store.models import LaunchRow
from marketplace.store.picker import set_favourite, set_selected


def _launch(session: Session, context: LaunchContext) -> LaunchRow:
    row = session.get(LaunchRow, context.launch_id)
    assert row is not None  # noqa: S101 - the launch token named it
    return row


def toggle_in_tray(sessions: sessionmaker[Session], context: LaunchContext, resource_id: str, selected: bool, *,
                   single: bool) -> LaunchContext:
    """Put a resource in the launch's tray or take it out; a single-item placement keeps only the latest.
    Returns the context with the tray as it now is."""
    with sessions() as session:
        if selected and not get_resources(session, [resource_id]):
            raise refused("dl_unknown_resource", "That resource is no longer in the catalog.", advice="")
        tray = set_selected(session, _launch(session, context), resource_id, selected, single=single)
        session.commit()
    return dataclasses.replace(context, selection=tuple(tray))


def star(sessions: sessionmaker[Session], context: LaunchContext, resource_id: str, starred: bool) -> str:
    """Star or unstar a resource for this instructor on this platform; returns the resource's title."""
    with sessions() as session:
        resources = get_resources(session, [resource_id])
        if not resources:
            raise refused("dl_unknown_resource", "That resource is no longer in the catalog.", advice="")
        set_favourite(session, _launch(session, context).platform_id, context.user_sub, resource_id, starred)
        session.commit()
        return resources[0].title
