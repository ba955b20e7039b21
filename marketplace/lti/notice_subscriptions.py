"""Subscribing this tool's notice handler with a platform's notice handler service (PNS).

The service's URL comes with launches, in the `platformnotificationservice` claim of a deployment; the tool
keeps it on the launch rows, so the most recent launch of the deployment that carried it is where to
subscribe. Canvas's shapes (shared reference, section 6): `PUT <url>` with a bearer token for the
noticehandlers scope and `{"notice_type", "handler"}`, one handler per type; `GET <url>` lists them.

The access token comes from the caller (grading's token cache), so this module needs no grading import.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from marketplace.lti import claims
from marketplace.store.models import DeploymentRow, LaunchRow, PlatformRow

DEFAULT_TYPES = ("LtiContextCopyNotice", "LtiHelloWorldNotice")
LAUNCHES_SCANNED = 500


class SubscriptionError(RuntimeError):
    """A subscription that could not be made; the message says what the platform or the tool said."""


@dataclass(frozen=True, slots=True)
class NoticeService:
    platform_id: int
    deployment_id: str
    url: str
    types_supported: tuple[str, ...]


def notice_service(session: Session, platform: PlatformRow, deployment_id: str | None) -> NoticeService:
    """The notice handler service of a deployment, from its most recent launch that named one."""
    query = select(LaunchRow, DeploymentRow.deployment_id).join(
        DeploymentRow, DeploymentRow.id == LaunchRow.deployment_row_id).where(LaunchRow.platform_id == platform.id)
    if deployment_id:
        query = query.where(DeploymentRow.deployment_id == deployment_id)
    rows = session.execute(query.order_by(LaunchRow.created_at.desc()).limit(LAUNCHES_SCANNED)).all()
    for launch, deployment in rows:
        claim = launch.claims.get(claims.PLATFORM_NOTIFICATION_SERVICE)
        if not isinstance(claim, dict):
            continue
        url = claim.get("platform_notification_service_url")
        if isinstance(url, str) and url.startswith(("https://", "http://")):
            supported = claim.get("notice_types_supported")
            types = tuple(t for t in supported if isinstance(t, str)) if isinstance(supported, list) else ()
            return NoticeService(platform.id, str(deployment), url, types)
    scope = f"deployment {deployment_id}" if deployment_id else "any deployment"
    raise SubscriptionError(f"No launch from {platform.issuer} ({scope}) named a notice handler service yet. "
                            "Launch the tool once from the platform, then subscribe again.")


async def subscribe(client: httpx.AsyncClient, token: Callable[[int, list[str]], Awaitable[str]],
                    service: NoticeService, handler: str, types: Sequence[str]) -> list[dict[str, Any]]:
    """Subscribe `handler` for each type (the platform answers each); returns the platform's handler list."""
    wanted = [t for t in types if not service.types_supported or t in service.types_supported]
    if not wanted:
        raise SubscriptionError(f"The platform supports none of {', '.join(types)} "
                                f"(it lists {', '.join(service.types_supported)}).")
    bearer = {"Authorization": "Bearer " + await token(service.platform_id, [claims.NOTICE_SCOPE]),
              "Accept": "application/json"}
    for notice_type in wanted:
        response = await client.put(service.url, json={"notice_type": notice_type, "handler": handler},
                                    headers=bearer)
        if not response.is_success:
            raise SubscriptionError(f"The platform refused the {notice_type} subscription (HTTP "
                                    f"{response.status_code}): {response.text[:300]}")
    listed = await client.get(service.url, headers=bearer)
    if not listed.is_success:
        raise SubscriptionError(f"The platform did not list its notice handlers (HTTP {listed.status_code}).")
    body = listed.json()
    handlers = body.get("notice_handlers") if isinstance(body, dict) else None
    return [entry for entry in handlers if isinstance(entry, dict)] if isinstance(handlers, list) else []
