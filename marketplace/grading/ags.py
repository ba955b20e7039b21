"""The Assignment and Grade Services calls this tool makes: line items (every page), scores and results.

URLs are used exactly as the platform sent them. The scores and results endpoints are the line item URL with
`/scores` or `/results` added to its path, its query kept (Moodle's line item URLs carry `?type_id=1`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from marketplace.grading.service_http import ServiceFailure, call, json_body
from marketplace.lti import claims

LINEITEM = "application/vnd.ims.lis.v2.lineitem+json"
LINEITEMS = "application/vnd.ims.lis.v2.lineitemcontainer+json"
SCORE = "application/vnd.ims.lis.v1.score+json"
RESULTS = "application/vnd.ims.lis.v2.resultcontainer+json"
MEMBERSHIPS = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
MAX_PAGES = 500

# The scope names live with the other claim names; delivery may use every AGS scope.
SCOPE_LINEITEM = claims.SCOPE_LINEITEM
SCOPE_LINEITEM_READ = claims.SCOPE_LINEITEM_READ
SCOPE_RESULT_READ = claims.SCOPE_RESULT_READ
SCOPE_SCORE = claims.SCOPE_SCORE
SCOPE_MEMBERSHIP = claims.NRPS_SCOPE
DELIVERY_SCOPES = claims.AGS_SCOPES


def service_url(lineitem_url: str, suffix: str) -> str:
    """`…/lineitem?type_id=1` + "scores" → `…/lineitem/scores?type_id=1`."""
    parts = urlsplit(lineitem_url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + suffix))


def with_query(url: str, params: dict[str, str]) -> str:
    """`url` with `params` added to whatever query it already has."""
    return str(httpx.URL(url).copy_merge_params(params))


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def bearer(token: str, accept: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": accept}


async def paged(client: httpx.AsyncClient, token: str, url: str, accept: str, *, what: str,
                items_of: str | None = None) -> list[Any]:
    """Every page of a container, following `Link: <…>; rel="next"` with the URL exactly as sent.

    A next link to another origin is not followed: it would carry our bearer token somewhere else.
    """
    found: list[Any] = []
    seen: set[str] = set()
    next_url: str | None = url
    pages = 0
    while next_url and next_url not in seen and pages < MAX_PAGES:
        if _origin(next_url) != _origin(url):
            raise ServiceFailure(None, f"The platform's next page when {what} is on another site ({next_url}).")
        seen.add(next_url)
        response = await call(client, "GET", next_url, what=what, headers=bearer(token, accept),
                              service="nrps" if "nrps" in accept else "ags")
        body = json_body(response, what)
        page = body.get(items_of, []) if items_of and isinstance(body, dict) else body
        if not isinstance(page, list):
            raise ServiceFailure(response.status_code, f"The platform's answer when {what} is not a list.")
        found.extend(page)
        link = response.links.get("next")
        next_url = link.get("url") if link else None
        pages += 1
    return found


async def line_items(client: httpx.AsyncClient, token: str, lineitems_url: str, **filters: str) -> list[dict[str, Any]]:
    """The line items matching the filters (resource_link_id, tag, resource_id), from every page."""
    url = with_query(lineitems_url, filters) if filters else lineitems_url
    items = await paged(client, token, url, LINEITEMS, what="listing the gradebook's columns")
    return [item for item in items if isinstance(item, dict) and isinstance(item.get("id"), str)]


async def create_line_item(client: httpx.AsyncClient, token: str, lineitems_url: str,
                           body: dict[str, Any]) -> dict[str, Any]:
    response = await call(client, "POST", lineitems_url, what="creating the gradebook column", json=body,
                          headers={**bearer(token, LINEITEM), "Content-Type": LINEITEM})
    created = json_body(response, "creating the gradebook column")
    if not isinstance(created, dict) or not isinstance(created.get("id"), str):
        raise ServiceFailure(response.status_code, "The platform created a gradebook column but did not say its URL.")
    return created


async def post_score(client: httpx.AsyncClient, token: str, lineitem_url: str, body: dict[str, Any]) -> None:
    await call(client, "POST", service_url(lineitem_url, "scores"), what="posting the score", json=body,
               headers={"Authorization": f"Bearer {token}", "Content-Type": SCORE, "Accept": "application/json"})


async def results(client: httpx.AsyncClient, token: str, lineitem_url: str,
                  user_id: str | None = None) -> list[dict[str, Any]]:
    """The gradebook's results for the column (or one user), from every page."""
    url = service_url(lineitem_url, "results")
    if user_id is not None:
        url = with_query(url, {"user_id": user_id})
    items = await paged(client, token, url, RESULTS, what="reading the gradebook")
    return [item for item in items if isinstance(item, dict)]


async def memberships(client: httpx.AsyncClient, token: str, url: str) -> list[dict[str, Any]]:
    """Names and Roles: every member of the course, from every page."""
    members = await paged(client, token, url, MEMBERSHIPS, what="reading the course roster", items_of="members")
    return [member for member in members if isinstance(member, dict) and member.get("user_id")]
