"""The portfolio's reading service functions for the web layer: each opens (and closes) its own session.

The queries they run are in store.py; adding is in adding.py.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from marketplace.lti.context import LaunchContext
from marketplace.portfolio.errors import PortfolioError
from marketplace.portfolio.store import Owner, get_signed_item, list_items, may_open_submitted, owner_for_launch
from marketplace.store.models import LaunchRow, PortfolioItemRow

NOT_SHOWN_HERE = ("This submitted item cannot be shown here. Open it from the course it was submitted to, as its "
                  "author or a teacher of that course.")


def owner_of(sessions: sessionmaker[Session], context: LaunchContext) -> Owner:
    """The owner of the portfolio a launch opens; PortfolioError for a launch that names nobody."""
    with sessions() as session:
        return owner_for_launch(session, context)


def items_of(sessions: sessionmaker[Session], owner: Owner) -> list[PortfolioItemRow]:
    """The owner's items, newest first."""
    with sessions() as session:
        return list_items(session, owner)


def signed_item(sessions: sessionmaker[Session], item_id: str) -> PortfolioItemRow | None:
    """Any item by id, for a signed download (the signature, checked by the caller, is the permission)."""
    with sessions() as session:
        return get_signed_item(session, item_id)


def submitted_item(sessions: sessionmaker[Session], context: LaunchContext) -> PortfolioItemRow:
    """The submitted item a resource-link launch opens (custom.portfolio_item_id): its owner, or a teacher of
    the course and deployment it was submitted to, may see it; anyone else gets the same 404 as for a missing
    item, so an id says nothing about whether it exists."""
    item_id = context.custom.get("portfolio_item_id", "")
    with sessions() as session:
        launch = session.get(LaunchRow, context.launch_id)
        item = session.get(PortfolioItemRow, item_id) if item_id else None
        if item is None or launch is None or not may_open_submitted(session, item, launch.platform_id, context):
            raise PortfolioError(NOT_SHOWN_HERE, 404)
        return item
