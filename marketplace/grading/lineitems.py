"""Finding a resource link's gradebook column, and creating it only when none exists, exactly once.

Order: the `lineitem` the launch named; the one remembered for the link; the platform's list filtered by
`resource_link_id`; then by our `tag` and the `resource_id`; and only then a new one. Creation is guarded by a
lease on the link's row, so two workers (or two learners' first attempts) never create two columns; the one
that waits finds the column the other created.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import anyio.to_thread
import httpx
from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from marketplace.clock import utc_now
from marketplace.grading import ags
from marketplace.grading.links import link_tag
from marketplace.grading.outbox import ClaimedJob
from marketplace.grading.service_http import ServiceFailure
from marketplace.store.models import LineItemRow

RESOLVE_LEASE = timedelta(seconds=60)
DEEP_LINK_TAG = "lti-marketplace"  # the tag of line items the platform made from our deep-linking items
# Statuses with which a platform refuses `resourceLinkId` on creation (Canvas: 404 unknown link, 412 a link
# without an assignment, such as an editor embed or a module link).
LINK_REFUSALS = {400, 404, 409, 412, 422}


class WaitForOther(Exception):
    """Another worker is finding or creating this link's column right now; try again in a moment."""


class LineItems:
    """The remembered columns (database) and the platform's list, for the delivery worker."""

    def __init__(self, sessions: sessionmaker[Session], client: httpx.AsyncClient,
                 now: Callable[[], datetime] = utc_now) -> None:
        self._sessions = sessions
        self._client = client
        self._now = now
        self.created = 0  # line items this process created (tests and benchmarks read it)
        # Columns this process already knows, to spare a database read per score; `forget` drops one.
        self._known: dict[str, str] = {}

    async def resolve(self, job: ClaimedJob, owner: str, token: Callable[[], Awaitable[str]]) -> tuple[str, str]:
        """The column URL for the job's link and where it came from (launch, remembered, found, created)."""
        target = job.target
        if target.get("lineitem"):
            return str(target["lineitem"]), "launch"
        remembered = self._known.get(job.link_key) or await anyio.to_thread.run_sync(self._remembered, job.link_key)
        if remembered:
            self._known[job.link_key] = remembered
            return remembered, "remembered"
        taken = await anyio.to_thread.run_sync(self._take_lease, job, owner)
        if not taken:
            raise WaitForOther
        try:
            url, source = await self._find_or_create(job, await token())
        except BaseException:
            await anyio.to_thread.run_sync(self._release, job.link_key, owner)
            raise
        await anyio.to_thread.run_sync(self._remember, job.link_key, url, source)
        self._known[job.link_key] = url
        return url, source

    async def _find_or_create(self, job: ClaimedJob, token: str) -> tuple[str, str]:
        target = job.target
        lineitems = str(target["lineitems"])
        link_id = str(target["resource_link_id"])
        by_link = [item for item in await ags.line_items(self._client, token, lineitems, resource_link_id=link_id)
                   if item.get("resourceLinkId") == link_id]
        if by_link:
            return str(by_link[0]["id"]), "found"
        tag = link_tag(link_id)
        tagged = [item for item in await ags.line_items(self._client, token, lineitems, tag=tag,
                                                        resource_id=str(target["resource_id"]))
                  if item.get("tag") == tag and item.get("resourceLinkId") in (None, link_id)]
        if tagged:
            return str(tagged[0]["id"]), "found"
        if ags.SCOPE_LINEITEM not in target.get("scopes", []):
            raise ServiceFailure(None, "The course has no gradebook column for this link, and did not give this "
                                       "tool permission to create one (the AGS lineitem scope).")
        body: dict[str, Any] = {"scoreMaximum": target["score_maximum"], "label": target["label"],
                                "resourceId": target["resource_id"], "tag": tag, "resourceLinkId": link_id}
        try:
            created = await ags.create_line_item(self._client, token, lineitems, body)
        except ServiceFailure as failure:
            if failure.status not in LINK_REFUSALS:
                raise
            # Canvas refuses resourceLinkId for links without an assignment: create the column without it,
            # to be found again by our tag.
            body.pop("resourceLinkId")
            created = await ags.create_line_item(self._client, token, lineitems, body)
        self.created += 1
        return str(created["id"]), "created"

    async def forget(self, link_key: str, url: str) -> None:
        """The remembered column is gone (404): find or create it again next time."""
        if self._known.get(link_key) == url:
            del self._known[link_key]
        await anyio.to_thread.run_sync(self._forget, link_key, url)

    # -- database (worker threads) -------------------------------------------------------------------
    def _remembered(self, key: str) -> str | None:
        with self._sessions() as session:
            row = session.get(LineItemRow, key)
            return row.url if row is not None else None

    def _take_lease(self, job: ClaimedJob, owner: str) -> bool:
        now = self._now()
        with self._sessions() as session:
            if session.get(LineItemRow, job.link_key) is None:
                session.add(LineItemRow(link_key=job.link_key, platform_id=job.platform_id,
                                        context_id=str(job.target.get("context_id", "")),
                                        resource_link_id=str(job.target.get("resource_link_id", "")),
                                        lease_owner=owner, lease_until=now + RESOLVE_LEASE, updated_at=now))
                try:
                    session.commit()
                    return True
                except IntegrityError:
                    session.rollback()
            taken = session.execute(
                update(LineItemRow)
                .where(LineItemRow.link_key == job.link_key, LineItemRow.url.is_(None),
                       or_(LineItemRow.lease_until.is_(None), LineItemRow.lease_until < now))
                .values(lease_owner=owner, lease_until=now + RESOLVE_LEASE, updated_at=now)
            )
            session.commit()
            return bool(taken.rowcount == 1)  # type: ignore[attr-defined]

    def _release(self, key: str, owner: str) -> None:
        with self._sessions() as session:
            session.execute(update(LineItemRow).where(LineItemRow.link_key == key, LineItemRow.lease_owner == owner)
                            .values(lease_owner=None, lease_until=None))
            session.commit()

    def _remember(self, key: str, url: str, source: str) -> None:
        with self._sessions() as session:
            row = session.get(LineItemRow, key)
            if row is not None:
                row.url, row.source, row.lease_owner, row.lease_until = url, source, None, None
                row.updated_at = self._now()
                session.commit()

    def _forget(self, key: str, url: str) -> None:
        with self._sessions() as session:
            session.execute(update(LineItemRow).where(LineItemRow.link_key == key, LineItemRow.url == url)
                            .values(url=None, source=None))
            session.commit()


def remember_from_launch(session: Session, key: str, platform_id: int, context_id: str, resource_link_id: str,
                         url: str) -> None:
    """Keep the column a launch named for its link (the caller commits)."""
    row = session.get(LineItemRow, key)
    if row is None:
        session.add(LineItemRow(link_key=key, platform_id=platform_id, context_id=context_id,
                                resource_link_id=resource_link_id, url=url, source="launch", updated_at=utc_now()))
    elif row.url != url:
        row.url, row.source, row.updated_at = url, "launch", utc_now()
