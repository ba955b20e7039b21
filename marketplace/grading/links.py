"""Keys naming a resource link (platform, deployment, course, link) and a learner's series of scores on it."""

from __future__ import annotations

import hashlib
import json


def link_key(platform_id: int, deployment_id: str, context_id: str, resource_link_id: str) -> str:
    """A fixed-length key for one resource link (its parts may each be 255 characters)."""
    raw = json.dumps([platform_id, deployment_id, context_id, resource_link_id])
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def series_key(link: str, user_sub: str) -> str:
    """The key of one learner's scores on one link: they reach the gradebook in the order they were earned."""
    return hashlib.sha256(json.dumps([link, user_sub]).encode("utf-8")).hexdigest()


def link_tag(resource_link_id: str) -> str:
    """Our line item tag for a resource link, to find a column created without `resourceLinkId` again."""
    return f"lti-marketplace:{resource_link_id}"[:255]
