"""Courses copied from other courses, and the resource links the tool has seen, so links work in a copy.

A link the tool made carries its resource in `custom.resource_id`. Canvas copies custom parameters with a
course, but not every platform (or every import path) does: a copied link may arrive with no custom values at
all. Each resource-link launch that names its resource is remembered (`remember_link`); when a launch in a
course lacks it, the link is looked up in that course by its resource link id, then in the courses it was
copied from (as the platform's `LtiContextCopyNotice` said, copies of copies included), by its resource link
id, then by its title when exactly one link there has it. The launch then proceeds as if the platform had
sent the value: the quiz opens, and its scores go to the copy's own gradebook (the line item comes from the
copy's launch, never from the original course).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from marketplace.lti import claims
from marketplace.store.models import CourseCopyRow, ResourceLinkRow
from marketplace.store.upsert import insert_or_ignore, insert_or_update

MAX_COPY_DEPTH = 8  # a copy of a copy of ...: deep enough for real course lineages, bounded against cycles
MAX_TEXT = 255


def record_copy(session: Session, platform_id: int, deployment_id: str, context_id: str, origin_context_id: str,
                notice_id: str, now: datetime) -> None:
    """Remember that `context_id` was copied from `origin_context_id` (once, even when two notices of the same
    copy arrive at once; the caller commits)."""
    if context_id == origin_context_id:
        return
    insert_or_ignore(session, CourseCopyRow,
                     {"platform_id": platform_id, "deployment_id": deployment_id, "context_id": context_id,
                      "origin_context_id": origin_context_id, "notice_id": notice_id, "copied_at": now},
                     ["platform_id", "context_id", "origin_context_id"])
    session.flush()


def origins_of(session: Session, platform_id: int, context_id: str) -> list[str]:
    """The courses `context_id` was copied from, nearest first, then theirs (bounded, cycle-safe)."""
    found: list[str] = []
    frontier = [context_id]
    for _ in range(MAX_COPY_DEPTH):
        if not frontier:
            break
        rows = session.scalars(select(CourseCopyRow).where(
            CourseCopyRow.platform_id == platform_id, CourseCopyRow.context_id.in_(frontier))
            .order_by(CourseCopyRow.copied_at.desc(), CourseCopyRow.id.desc())).all()
        frontier = [row.origin_context_id for row in rows
                    if row.origin_context_id not in found and row.origin_context_id != context_id]
        found.extend(dict.fromkeys(frontier))
    return found


def _link(body: dict[str, Any]) -> tuple[str, str, str | None]:
    context = body.get(claims.CONTEXT) or {}
    link = body.get(claims.RESOURCE_LINK) or {}
    context_id = context.get("id") if isinstance(context, dict) else None
    link_id = link.get("id") if isinstance(link, dict) else None
    title = link.get("title") if isinstance(link, dict) else None
    return (str(context_id or "")[:MAX_TEXT], str(link_id or "")[:MAX_TEXT],
            title[:MAX_TEXT] if isinstance(title, str) and title.strip() else None)


def remember_link(session: Session, platform_id: int, body: dict[str, Any], now: datetime) -> None:
    """Record which resource a resource-link launch showed (the caller commits)."""
    custom = body.get(claims.CUSTOM) or {}
    resource_id = custom.get("resource_id") if isinstance(custom, dict) else None
    context_id, link_id, title = _link(body)
    if not isinstance(resource_id, str) or not resource_id or not context_id or not link_id:
        return
    # An upsert: two learners opening the same link at once must not fail one of the launches. The row is
    # rewritten only when the link changed, so a class opening one quiz does not queue on its row.
    insert_or_update(session, ResourceLinkRow,
                     [{"platform_id": platform_id, "context_id": context_id, "resource_link_id": link_id,
                       "title": title, "resource_id": resource_id[:MAX_TEXT], "last_launch_at": now}],
                     ["platform_id", "context_id", "resource_link_id"], ["title", "resource_id", "last_launch_at"],
                     only_if_changed=["title", "resource_id"])
    session.flush()


def _in_context(session: Session, platform_id: int, context_id: str, link_id: str, title: str | None) -> str | None:
    base = select(ResourceLinkRow).where(ResourceLinkRow.platform_id == platform_id,
                                         ResourceLinkRow.context_id == context_id)
    by_id = session.scalars(base.where(ResourceLinkRow.resource_link_id == link_id)).first()
    if by_id is not None:
        return by_id.resource_id
    if title is None:
        return None
    by_title = session.scalars(base.where(ResourceLinkRow.title == title).limit(2)).all()
    return by_title[0].resource_id if len(by_title) == 1 else None


def resolve_copied_link(session: Session, platform_id: int, body: dict[str, Any]) -> dict[str, Any]:
    """The launch body, with `custom.resource_id` filled in from the course (or its origins) when a
    resource-link launch came without it; unchanged otherwise."""
    if body.get(claims.MESSAGE_TYPE) != claims.RESOURCE_LINK_REQUEST:
        return body
    custom = body.get(claims.CUSTOM)
    if isinstance(custom, dict) and custom.get("resource_id"):
        return body
    context_id, link_id, title = _link(body)
    if not context_id or not link_id:
        return body
    # In its own course a link is known by its id alone: another link there may well share its title.
    own = _in_context(session, platform_id, context_id, link_id, None)
    if own:
        return _with_resource(body, custom, own)
    for candidate in origins_of(session, platform_id, context_id):
        resource_id = _in_context(session, platform_id, candidate, link_id, title)
        if resource_id:
            return _with_resource(body, custom, resource_id)
    return body


def _with_resource(body: dict[str, Any], custom: Any, resource_id: str) -> dict[str, Any]:
    return {**body, claims.CUSTOM: {**(custom if isinstance(custom, dict) else {}), "resource_id": resource_id}}
