"""What the portfolio's pages need, shared by the portfolio views and the picker of a homework launch:
the launch and its owner, the items as shown, and how a note or link may be submitted."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from marketplace.lti import claims, launch_token
from marketplace.lti.context import LaunchContext
from marketplace.lti.deep_linking import HOMEWORK, DeepLinkingSettings, placement_of
from marketplace.lti.errors import refused
from marketplace.portfolio import files, signing
from marketplace.portfolio.content_items import AS_FILE, AS_LINK, submit_as_offers
from marketplace.portfolio.service import items_of, owner_of
from marketplace.portfolio.store import (
    MAX_NOTE,
    MAX_TITLE,
    MAX_URL,
    Owner,
)
from marketplace.store.models import PortfolioItemRow
from marketplace.web.launch_session import launch_context
from marketplace.web.picker_pages import require_role
from marketplace.web.services import services

CHOOSE_FORM = "picker-choose"  # the picker's submit form; portfolio radios join it with the form= attribute


def max_upload_bytes(request: Request) -> int:
    """The upload limit (20 MB unless the app's services say otherwise)."""
    return services(request).portfolio_max_upload_bytes


def require_portfolio(context: LaunchContext) -> None:
    """Portfolios belong to homework submission, and homework submission to learners."""
    if context.message_type != claims.DEEP_LINKING_REQUEST or placement_of(context) != HOMEWORK:
        raise refused("portfolio_placement", "Your portfolio opens when you submit an assignment from your course.",
                      status=403, advice="")
    require_role(context)


async def portfolio_launch(request: Request, token: str | None) -> tuple[LaunchContext, Owner]:
    """The launch behind a portfolio request and the portfolio's owner; refusals are MarketplaceErrors."""
    context = await run_in_threadpool(launch_context, request, token)
    require_portfolio(context)

    return context, await run_in_threadpool(owner_of, services(request).sessions, context)


def item_view(item: PortfolioItemRow, request: Request) -> dict[str, Any]:
    view: dict[str, Any] = {"id": item.id, "title": item.title, "kind": item.kind}
    if item.kind == "file":
        settings = services(request).settings
        view["download_url"] = signing.signed_file_url(settings.base_url, item, settings.secret_key)
        view["detail"] = f"{item.file_name} · {files.human_size(item.file_size or 0)}"
    elif item.kind == "link":
        view["url"] = item.url
    else:
        view["detail"] = item.note or ""
    return view


# "File" stays out of these labels: the add form's file input is labelled "File", and a label containing the word
# would make that name ambiguous to assistive technology users searching by label (and to tests).
SUBMIT_AS_LABELS = {AS_FILE: "As a web page", AS_LINK: "As a link to the tool"}


def submit_as_choices(context: LaunchContext | None) -> list[dict[str, str]]:
    """The radios for how a note or link is submitted, from what the launch's platform accepts; the file first."""
    claim = (context.deep_linking_settings if context is not None else None) or {}
    settings = DeepLinkingSettings.from_claim({**claim, "deep_link_return_url": claim.get("deep_link_return_url", "")})
    offers = submit_as_offers(settings.accept_types, settings.accept_media_types)
    return [{"value": offer, "label": SUBMIT_AS_LABELS[offer]} for offer in offers]


def portfolio_page_context(request: Request, owner: Owner, token: str, context: LaunchContext | None = None,
                           **extra: Any) -> dict[str, Any]:
    """What `_portfolio.html` needs (blocking: call it in a thread); the picker page can include it too."""
    items = items_of(services(request).sessions, owner)
    values = {"title": "", "url": "", "note": ""}
    values.update(extra.pop("portfolio_values", None) or {})
    return {
        "launch_token": token,
        "header": launch_token.HEADER,
        "portfolio_items": [item_view(item, request) for item in items],
        "portfolio_has_pages": any(item.kind != "file" for item in items),
        "portfolio_submit_as": submit_as_choices(context),
        "portfolio_values": values,
        "portfolio_form": CHOOSE_FORM,
        "portfolio_accept": ",".join(f".{extension}" for extension in files.ALLOWED),
        "portfolio_allowed": files.ALLOWED_LIST,
        "portfolio_max_upload": files.human_size(max_upload_bytes(request)),
        "portfolio_limits": {"title": MAX_TITLE, "url": MAX_URL, "note": MAX_NOTE},
        "portfolio_error": None,
        "portfolio_status": None,
        "portfolio_selected": None,
        **extra,
    }


async def picker_portfolio(request: Request, context: LaunchContext, token: str) -> dict[str, Any]:
    """What `lti_picker.html` needs to include `_portfolio.html`: empty unless this is a homework submission."""
    if context.message_type != claims.DEEP_LINKING_REQUEST or placement_of(context) != HOMEWORK:
        return {}

    def run() -> dict[str, Any]:
        owner = owner_of(services(request).sessions, context)
        return portfolio_page_context(request, owner, token, context)

    return await run_in_threadpool(run)
