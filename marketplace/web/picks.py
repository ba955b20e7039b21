"""Resources shown in the shape of search hits: the picker's first screen and tray use the hit template."""

from __future__ import annotations

from typing import Any

from marketplace.catalog.highlight import SNIPPET_CHARS
from marketplace.catalog.resource import Resource
from marketplace.lti.picks import PersonalLists
from marketplace.web.serialize import resource_to_json


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


def personal_lists_view(lists: PersonalLists) -> dict[str, Any]:
    """What the picker templates need of the personal lists."""
    return {
        "tray": lists.tray,
        "tray_ids": lists.tray_ids,
        "favourite_ids": lists.favourite_ids,
        "first_screen": [{"key": section.key, "heading": section.heading,
                          "picks": [pick_from_resource(resource) for resource in section.resources]}
                         for section in lists.first_screen],
    }
