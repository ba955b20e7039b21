"""The picker's first screen and the instructor's own lists (tray, favourites), read from the database.

Without a query a teacher most often wants what they used before, what they starred, then what colleagues use
or what is new: an alphabetical list of the whole catalog helps nobody. These are the domain's answers; the
web layer shows them in the shape of search hits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from marketplace.catalog.cards import cards
from marketplace.catalog.records import get_resources
from marketplace.catalog.resource import Resource
from marketplace.catalog.search_types import SearchRequest
from marketplace.lti.context import LaunchContext
from marketplace.store.models import LaunchRow
from marketplace.store.picker import favourite_ids, recent_ids, recent_most_used, recent_newest

SECTION_SIZE = 5
SUGGESTIONS = 10  # most used and newest together fill up to this many


@dataclass(frozen=True, slots=True)
class Section:
    key: str
    heading: str
    resources: list[Resource] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PersonalLists:
    """What the picker shows beside the results: the tray in order, the starred ids and the first screen."""

    tray: list[Resource]
    tray_ids: set[str]
    favourite_ids: set[str]
    first_screen: list[Section]


def wants_first_screen(search: SearchRequest) -> bool:
    """No words, no filter, the first page and no explicit sort: the teacher has not asked for anything yet."""
    return (not search.text.strip() and not any(search.filters().values()) and search.page == 1
            and search.sort == "relevance")


def first_screen(session: Session, platform_id: int, user_sub: str,
                 known_favourites: list[str] | None = None) -> list[Section]:
    """Recently used, favourites, then the platform's most used, then the newest; each resource once.
    `known_favourites`: the user's favourites when the caller has just read them."""
    recent = recent_ids(session, platform_id, user_sub, limit=SECTION_SIZE)
    if known_favourites is None:
        known_favourites = favourite_ids(session, platform_id, user_sub)
    favourites = known_favourites[:SECTION_SIZE]
    popular = recent_most_used.get(session, platform_id, limit=SUGGESTIONS + len(recent) + len(favourites))
    newest = recent_newest.get(session, limit=SUGGESTIONS * 3)
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
    known = cards.get(session, [i for _, _, ids in chosen for i in ids])
    return [Section(key, heading, [known[i] for i in ids if i in known])
            for key, heading, ids in chosen if any(i in known for i in ids)]


def personal_lists(sessions: sessionmaker[Session], context: LaunchContext,
                   search: SearchRequest | None = None) -> PersonalLists:
    """The tray and favourites of this launch's instructor, and the first screen when nothing was asked yet."""
    with sessions() as session:
        platform_id, tray_ids = context.platform_id, list(context.selection)
        if platform_id is None:  # a context built from claims alone (the launch itself): read the row
            row = session.get(LaunchRow, context.launch_id)
            assert row is not None  # noqa: S101 - the launch token named it
            platform_id, tray_ids = row.platform_id, list(row.selection or [])
        favourites = favourite_ids(session, platform_id, context.user_sub)
        known = {resource.id: resource for resource in get_resources(session, tray_ids)} if tray_ids else {}
        sections = (first_screen(session, platform_id, context.user_sub, favourites)
                    if search is not None and wants_first_screen(search) else [])
    return PersonalLists([known[item] for item in tray_ids if item in known], set(tray_ids), set(favourites),
                         sections)
