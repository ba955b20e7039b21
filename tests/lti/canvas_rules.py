"""What a real Canvas makes of our content items, by the rules in tests/fixtures/canvas-content-items.json.

Canvas itself cannot run here, so these functions apply the rules read from its source (shared reference 2.3,
2.4) to the items the tool sent: what the rich content editor inserts, and what the assignment page fills in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RULES: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "fixtures" / "canvas-content-items.json").read_text(encoding="utf-8"))
PRESERVE_NAME = "https://canvas.instructure.com/lti/preserveExistingAssignmentName"


@dataclass(frozen=True)
class Inserted:
    """One element the editor puts into the page."""

    element: str  # "a", "iframe", "img", "html" or "dropped"
    body: str = ""  # an anchor's visible body: "thumbnail:<url>" or text
    src: str | None = None
    width: int | None = None
    height: int | None = None
    html: str | None = None


def _path(item: dict[str, Any], dotted: str) -> Any:
    value: Any = item
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _anchor_body(item: dict[str, Any], selection: str) -> str:
    for source in RULES["editor_button"]["anchor_body_order"]:
        if source == "thumbnail" and _path(item, "thumbnail.url"):
            return "thumbnail:" + str(_path(item, "thumbnail.url"))
        if source == "editor_selection" and selection:
            return selection
        if source in {"text", "title"} and item.get(source):
            return str(item[source])
    return ""


def editor_insert(item: dict[str, Any], selection: str = "") -> Inserted:
    """What Canvas's rich content editor inserts for one item."""
    rules = RULES["editor_button"]
    kind = item.get("type")
    if kind not in rules["inserted_types"]:
        return Inserted("dropped")
    if kind == "html":
        return Inserted("html", html=str(item["html"]))  # `text` is not shown
    if kind == "image":
        if item.get("thumbnail"):
            return Inserted("a", body=_anchor_body(item, ""), src=item.get("url"))
        return Inserted("img", body=str(item.get("text") or ""), src=item.get("url"), width=item.get("width"),
                        height=item.get("height"))
    frame = item.get("iframe") if isinstance(item.get("iframe"), dict) else None
    if kind == "link" and frame and frame.get("src"):
        return Inserted("iframe", src=str(frame["src"]), width=frame.get("width"), height=frame.get("height"))
    if kind == "ltiResourceLink" and frame is not None:
        # The src is always Canvas's own launch endpoint; only the size comes from the item.
        return Inserted("iframe", src="canvas-retrieve-endpoint", width=frame.get("width"),
                        height=frame.get("height"))
    return Inserted("a", body=_anchor_body(item, selection), src=item.get("url"))


@dataclass(frozen=True)
class AssignmentForm:
    """The assignment edit page after the item was picked."""

    name: str
    description: str
    points: Any
    dates: dict[str, Any]


def assignment_page(items: list[dict[str, Any]], existing_name: str, existing_description: str) -> AssignmentForm:
    """What the assignment page keeps of the first item (the others are ignored)."""
    rules = RULES["assignment_selection"]
    item = items[0]
    assert item.get("type") in rules["accepted_types"]
    name = existing_name
    if not (existing_name and all(item.get(key) == value for key, value in rules["name_kept_when"].items())):
        name = next((str(_path(item, key)) for key in rules["name_from"] if _path(item, key)), existing_name)
    text = item.get(rules["description_replaced_by"])
    description = str(text) if text else existing_description
    return AssignmentForm(name, description, _path(item, rules["points_from"]), {})


def module_assignment_dates(item: dict[str, Any]) -> dict[str, Any]:
    """The dates Canvas gives the assignment it creates on the server for a module item with a lineItem."""
    rules = RULES["link_selection"]
    if not item.get(rules["server_creates_assignment_when"]):
        return {}
    return {field: _path(item, source) for source, field in rules["assignment_dates_from"].items()
            if _path(item, source)}
