"""The deep-linking content item a portfolio item is submitted as (homework_submission), for the picker's respond."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from marketplace.lti.context import LaunchContext
from marketplace.lti.deep_linking import media_type_accepted
from marketplace.lti.errors import LtiRefusal, refused
from marketplace.portfolio import signing
from marketplace.portfolio.errors import PortfolioError
from marketplace.portfolio.store import get_item, owner_for_launch, record_submission
from marketplace.store.models import PortfolioItemRow


def portfolio_content_item(item: PortfolioItemRow, base_url: str, secret_key: str,
                           lifetime: timedelta = signing.URL_LIFETIME, now: datetime | None = None) -> dict[str, Any]:
    """A `file` item with a signed, expiring URL for files; an `ltiResourceLink` back to the tool otherwise.

    Canvas copies a submitted file from `url` with its own servers, without any session of ours, which is
    why the URL carries its permission (a signature) and says when it stops working (`expiresAt`).
    """
    base = base_url.rstrip("/")
    if item.kind == "file":
        expires = signing.expiry(lifetime, now)
        name = str(item.file_name)
        return {
            "type": "file",
            "url": base + signing.signed_path(item.id, expires, secret_key),
            "title": name,
            "text": name,
            "mediaType": str(item.media_type),
            "expiresAt": datetime.fromtimestamp(expires, UTC).isoformat().replace("+00:00", "Z"),
        }
    return {
        "type": "ltiResourceLink",
        "url": f"{base}/lti/launch",
        "title": item.title,
        "custom": {"portfolio_item_id": item.id},
    }


def submission_item(session: Session, context: LaunchContext, item_id: str, base_url: str, secret_key: str,
                    accept_types: tuple[str, ...] = (), accept_media_types: tuple[str, ...] = ()) -> dict[str, Any]:
    """The content item for the portfolio item a student chose in this launch; LtiRefusal when it is not theirs.

    Someone else's item and a missing one get the same answer, so ids cannot be probed for existence.
    """
    try:
        owner = owner_for_launch(session, context)
    except PortfolioError as error:
        raise LtiRefusal("portfolio_owner", error.message, error.status) from None
    item = get_item(session, owner, item_id)
    if item is None:
        raise refused("portfolio_unknown_item", "That portfolio item is not in your portfolio; choose one of yours.",
                      advice="")
    content = portfolio_content_item(item, base_url, secret_key)
    if accept_types and content["type"] not in accept_types:
        raise refused("dl_type_not_accepted", f"“{item.title}” cannot be submitted here: the course accepts only "
                      f"{', '.join(accept_types)}.", advice="")
    if content["type"] == "file" and not media_type_accepted(str(content.get("mediaType", "")), accept_media_types):
        raise refused("dl_media_type_not_accepted", f"“{item.title}” cannot be submitted here: the assignment "
                      f"accepts only {', '.join(accept_media_types)} files.", advice="")
    record_submission(session, item, context)  # in the response's transaction: no submission, no access
    return content
