"""The picker's first screen, and resources shown in the same shape as search hits.

Without a query a teacher most often wants what they used before, what they starred, then what colleagues use
or what is new: an alphabetical list of the whole catalog helps nobody.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from marketplace.catalog.highlight import SNIPPET_CHARS
from marketplace.catalog.records import get_resources
from marketplace.catalog.resource import Resource
from marketplace.catalog.search_types import SearchRequest
from marketplace.catalog.thumbnails import local_thumbnails, with_pictures
from marketplace.store.picker import favourite_ids, most_used_ids, newest_ids, recent_ids
from marketplace.web.serialize import resource_to_json

SECTION_SIZE = 5
SUGGESTIONS = 10  # most used and newest together fill up to this many


@dataclass(frozen=True, slots=True)
class Section:
    key: str
    heading: str
    picks: list[dict[str, Any]] = field(default_factory=list)


def wants_first_screen(search: SearchRequest) -> bool:
    """No words, no filter, the first page and no explicit sort: the teacher has not asked for anything yet."""
    return (not search.text.strip() and not any(search.filters().values()) and search.page == 1
            and search.sort == "relevance")


def _excerpt(text: str) -> str:
    if len(text) <= SNIPPET_CHARS:
        return text
    cut = text[:SNIPPET_CHARS]
    return cut[: cut.rfind(" ")] if " " in cut else cut


def pick_from_resource(resource: Resource) -> dict[str, Any]:
    """A resource in the shape of a search hit, so one template shows both."""
    data = resource_to_json(resource)
    data["highlights"] = {"title": [{"text": resource.title, "match": False}],
                          "description": [{"text": _excerpt(resource.description), "match": False}]}
    return data


def first_screen(session: Session, platform_id: int, user_sub: str) -> list[Section]:
    """Recently used, favourites, then the platform's most used, then the newest; each resource once."""
    recent = recent_ids(session, platform_id, user_sub, limit=SECTION_SIZE)
    favourites = favourite_ids(session, platform_id, user_sub)[:SECTION_SIZE]
    popular = most_used_ids(session, platform_id, limit=SUGGESTIONS + len(recent) + len(favourites))
    newest = newest_ids(session, limit=SUGGESTIONS * 3)
    shown: set[str] = set()
    plan: list[tuple[str, str, list[str], int]] = [
        ("recent", "Recently used", recent, SECTION_SIZE),
        ("favourites", "Your favourites", favourites, SECTION_SIZE),
        ("popular", "Most used by teachers here", popular, SUGGESTIONS),
    ]
    chosen: list[tuple[str, str, list[str]]] = []
    for key, heading, ids, limit in plan:
        fresh = [item for item in ids if item not in shown][:limit]
        shown.update(fresh)
        chosen.append((key, heading, fresh))
    room = SUGGESTIONS - len(chosen[2][2])
    fresh_new = [item for item in newest if item not in shown][:room]
    chosen.append(("newest", "New in the catalog", fresh_new))
    wanted = [i for _, _, ids in chosen for i in ids]
    known = {resource.id: resource
             for resource in with_pictures(get_resources(session, wanted), local_thumbnails(session, wanted))}
    return [Section(key, heading, [pick_from_resource(known[i]) for i in ids if i in known])
            for key, heading, ids in chosen if any(i in known for i in ids)]
