"""Answering a deep-linking launch: the one transaction behind "Add selected".

It checks the choice (at most MAX_SELECTION resources, all still in the catalog, or one portfolio item for a
homework submission), builds the content items for the placement, marks the launch answered (once: a second
answer, from a double click or another tab, is refused rather than adding the items twice), records the
picks for "recently used", and signs the response JWT with the tool's active key. The view only parses the
form and renders the auto-posting page. A portfolio item is built by the caller's `submission` function,
because portfolio/ sits beside lti/, not below it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session, sessionmaker

from marketplace.catalog.records import get_resources
from marketplace.clock import utc_now
from marketplace.lti.context import LaunchContext
from marketplace.lti.deep_linking import (
    HOMEWORK,
    ContentItemBuilder,
    DeepLinkingSettings,
    ItemOptions,
    placement_of,
    response_claims,
    sign_response,
)
from marketplace.lti.errors import LtiRefusal, refused
from marketplace.lti.keys import SigningKeys
from marketplace.store.models import LaunchRow, table_of
from marketplace.store.picker import record_uses

MAX_SELECTION = 50
"""The most resources one answer may carry (the tray and the page together)."""

Submission = Callable[[Session], dict[str, Any]]
"""Builds the content item of a portfolio item, inside the answer's transaction."""


_LAUNCHES = table_of(LaunchRow)
# Every answer runs it; built once, on the table (no ORM bulk-update planning per call).
_CLAIM_ANSWER = (update(_LAUNCHES)
                 .where(_LAUNCHES.c.id == bindparam("launch_id"), _LAUNCHES.c.responded_at.is_(None))
                 .values(responded_at=bindparam("now"), response_items=bindparam("sent")))


@dataclass(frozen=True, slots=True)
class DeepLinkAnswer:
    """The signed response and where the browser posts it."""

    jwt: str
    return_url: str
    item_count: int


def answer(
    sessions: sessionmaker[Session], signing: SigningKeys, context: LaunchContext, *, posted: Sequence[str],
    options: ItemOptions, base_url: str, submission: Submission | None = None,
) -> DeepLinkAnswer:
    """Answer the launch with the tray's resources plus `posted`, or with the portfolio item `submission`
    builds (homework only); raises LtiRefusal for a choice that cannot be sent (blocking: run in a thread)."""
    assert context.deep_linking_settings is not None  # noqa: S101 - deep-linking launches only
    settings = DeepLinkingSettings.from_claim(context.deep_linking_settings)
    placement = placement_of(context)
    with sessions() as session:
        platform_id, selection = context.platform_id, context.selection
        if context.responded or platform_id is None:
            # Answered already (a second press, a reload), or a context that did not come from the launch's row
            # (whose platform and tray the request already read with the launch token): read the row.
            row = session.get(LaunchRow, context.launch_id)
            assert row is not None  # noqa: S101 - the launch token named it
            if row.responded_at is not None:
                return _sent_again(session, signing, context, settings, row)
            platform_id, selection = row.platform_id, tuple(row.selection or ())
        # The tray (kept across searches) plus anything ticked on the page without htmx.
        chosen = list(dict.fromkeys([*selection, *posted]))
        if len(chosen) > MAX_SELECTION:
            raise refused("dl_too_many", f"Select at most {MAX_SELECTION} resources at once.", advice="")
        resources = get_resources(session, chosen)
        kid, key = signing.active(session)  # read before any write (a portfolio submission below writes)
        if len(resources) != len(chosen):
            raise refused("dl_unknown_resource", "A selected resource is no longer in the catalog; search again.",
                          advice="")
        if submission is not None and placement == HOMEWORK:
            if resources:
                raise refused("dl_single_only", "Choose one item: a resource or one of your portfolio items.",
                              advice="")
            items = [submission(session)]
        else:
            items = ContentItemBuilder(settings, placement, base_url, context.product_family).build(resources,
                                                                                                   options)
        verb = "Submitted" if placement == HOMEWORK else "Added"
        count = f"{len(items)} item{'' if len(items) == 1 else 's'}"
        message = f"{verb} {count} from LTI Marketplace."
        # The writes together at the end (on SQLite the write lock is held from the first one to the commit):
        # one statement both claims the launch and keeps what it sends.
        answered = session.execute(_CLAIM_ANSWER, {"launch_id": context.launch_id, "now": utc_now(),
                                                   "sent": {"items": items, "message": message}})
        if answered.rowcount != 1:  # type: ignore[attr-defined]
            # Another request answered this launch a moment ago (a double click): send what it sent.
            session.rollback()
            row = session.get(LaunchRow, context.launch_id, populate_existing=True)
            assert row is not None  # noqa: S101 - it was there a moment ago
            return _sent_again(session, signing, context, settings, row)
        record_uses(session, platform_id, context.user_sub, [resource.id for resource in resources])
        session.commit()
    jwt_value = sign_response(response_claims(context, settings, items, message), kid, key)
    return DeepLinkAnswer(jwt_value, settings.return_url, len(items))


def _sent_again(session: Session, signing: SigningKeys, context: LaunchContext, settings: DeepLinkingSettings,
                row: LaunchRow) -> DeepLinkAnswer:
    """The answer already given to this launch, signed afresh (Canvas wants an iat under 5 minutes old).

    A second "Add selected" means the first answer's page did not reach the platform: had it, the platform's
    page would have replaced ours. So the same items are sent again rather than refused, and nothing chosen
    since is added. A platform that did receive the first (a double click) refuses the second itself: Canvas
    answers a second post to the same return URL with "already_used".
    """
    sent = row.response_items
    if not sent:  # answered before the items were kept (an older release): nothing to send again
        raise LtiRefusal("dl_already_answered", "This selection was already sent to the course. Open the "
                         "tool again from your course to add more.", 409)
    kid, key = signing.active(session)
    items = list(sent["items"])
    jwt_value = sign_response(response_claims(context, settings, items, str(sent["message"])), kid, key)
    return DeepLinkAnswer(jwt_value, settings.return_url, len(items))
