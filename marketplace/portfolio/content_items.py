"""The deep-linking content item a portfolio item is submitted as (homework_submission), for the picker's respond."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from marketplace.lti.context import LaunchContext
from marketplace.lti.deep_linking import media_type_accepted
from marketplace.lti.errors import LtiRefusal, refused
from marketplace.portfolio import rendering, signing
from marketplace.portfolio.errors import PortfolioError
from marketplace.portfolio.store import get_item, owner_for_launch, record_submission
from marketplace.store.models import PortfolioItemRow

# How a note or link is submitted (the picker's `portfolio_as` field): as a file holding its web page, or as
# an ltiResourceLink back to the tool. Files are always submitted as files.
AS_FILE = "file"
AS_LINK = "link"
SUBMIT_AS = (AS_FILE, AS_LINK)
LTI_LINK = "ltiResourceLink"


def portfolio_content_item(item: PortfolioItemRow, base_url: str, secret_key: str,
                           lifetime: timedelta = signing.URL_LIFETIME, now: datetime | None = None,
                           submit_as: str = AS_LINK) -> dict[str, Any]:
    """A `file` item with a signed, expiring URL for files (and for notes and links when `submit_as` is file);
    an `ltiResourceLink` back to the tool otherwise.

    Canvas copies a submitted file from `url` with its own servers, without any session of ours, which is
    why the URL carries its permission (a signature) and says when it stops working (`expiresAt`). Canvas
    names the file after `text` and checks allowed extensions on url, title and text, so both carry the name.
    """
    base = base_url.rstrip("/")
    if item.kind == "file" or submit_as == AS_FILE:
        expires = signing.expiry(lifetime, now)
        if item.kind == "file":
            name, media_type = str(item.file_name), str(item.media_type)
        else:
            name, media_type = rendering.file_name(item), rendering.MEDIA_TYPE
        return {
            "type": "file",
            "url": base + signing.signed_path(item.id, signing.content_sha256(item), expires, secret_key),
            "title": name,
            "text": name,
            "mediaType": media_type,
            "expiresAt": signing.iso_z(expires),
        }
    return {
        "type": LTI_LINK,
        "url": f"{base}/lti/launch",
        "title": item.title,
        "custom": {"portfolio_item_id": item.id},
    }


def submit_as_offers(accept_types: tuple[str, ...], accept_media_types: tuple[str, ...]) -> tuple[str, ...]:
    """The ways a note or link can be submitted in this launch, the file first: Canvas's homework_submission
    placement appears only on file-upload assignments, where a link to the tool cannot be handed in."""
    offers = []
    if (not accept_types or "file" in accept_types) and media_type_accepted(rendering.MEDIA_TYPE,
                                                                            accept_media_types):
        offers.append(AS_FILE)
    if not accept_types or LTI_LINK in accept_types:
        offers.append(AS_LINK)
    return tuple(offers)


def submit_as_for(item: PortfolioItemRow, portfolio_as: str, accept_types: tuple[str, ...]) -> str:
    """How this item goes: files as files; a note or link as asked, else as a link where the platform takes one
    (what a form without the choice always got), else as a file."""
    if item.kind == "file":
        return AS_FILE
    if portfolio_as:
        return portfolio_as
    return AS_LINK if not accept_types or LTI_LINK in accept_types else AS_FILE


def submission_item(session: Session, context: LaunchContext, item_id: str, base_url: str, secret_key: str,
                    accept_types: tuple[str, ...] = (), accept_media_types: tuple[str, ...] = (),
                    portfolio_as: str = "") -> dict[str, Any]:
    """The content item for the portfolio item a student chose in this launch; LtiRefusal when it is not theirs,
    when `portfolio_as` is not file or link, or when the platform takes neither form of it.

    Someone else's item and a missing one get the same answer, so ids cannot be probed for existence.
    """
    if portfolio_as and portfolio_as not in SUBMIT_AS:
        # Not echoed: it is whatever the request carried.
        raise refused("portfolio_as_unknown", "Choose how to submit the item: as a web page or as a link to the "
                      "tool.", advice="")
    try:
        owner = owner_for_launch(session, context)
    except PortfolioError as error:
        raise LtiRefusal("portfolio_owner", error.message, error.status) from None
    item = get_item(session, owner, item_id)
    if item is None:
        raise refused("portfolio_unknown_item", "That portfolio item is not in your portfolio; choose one of yours.",
                      advice="")
    content = portfolio_content_item(item, base_url, secret_key,
                                     submit_as=submit_as_for(item, portfolio_as, accept_types))
    if accept_types and content["type"] not in accept_types:
        other = "as a link to the tool" if content["type"] == "file" else "as a web page"
        advice = f"Choose to submit it {other} instead." if item.kind != "file" else ""
        raise refused("dl_type_not_accepted", f"“{item.title}” cannot be submitted here: the course accepts only "
                      f"{', '.join(accept_types)}.", advice=advice)
    if content["type"] == "file" and not media_type_accepted(str(content.get("mediaType", "")), accept_media_types):
        raise refused("dl_media_type_not_accepted", f"“{item.title}” cannot be submitted here: the assignment "
                      f"accepts only {', '.join(accept_media_types)} files.", advice="")
    record_submission(session, item, context)  # in the response's transaction: no submission, no access
    return content
