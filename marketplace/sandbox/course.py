"""The sandbox course: what came back from the tool and its gradebook (a small JSON file), and how Canvas
would show the items.

Canvas does not keep everything a tool returns (shared reference, section 2.3): the editor drops `file`
items, modules keep only `ltiResourceLink`, the assignment page and homework submission use the first item.
`canvas_view` applies those rules and says what was dropped, so a newcomer sees the difference.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from marketplace.sandbox import canvas

MAX_DELIVERIES = 100
MAX_NONCES = 500
COURSE_FILE = "course.json"
# What "Clear the course" keeps: used response nonces and assertion jtis stay used.
KEPT_ON_CLEAR = ("nonces", "jtis")
T = TypeVar("T")


def link_id(delivery_id: str, index: int) -> str:
    """The resource_link id of a returned ltiResourceLink: one per item, stable across launches."""
    return f"sandbox-link-{delivery_id}-{index}"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One verified deep-linking response, as received."""

    id: str
    placement: str
    user: str
    received_at: str
    items: list[dict[str, Any]]
    message: str | None = None
    error_message: str | None = None

    @property
    def received_label(self) -> str:
        try:
            return datetime.fromisoformat(self.received_at).strftime("%Y-%m-%d %H:%M UTC")
        except ValueError:
            return self.received_at

    @classmethod
    def new(cls, placement: str, user: str, items: list[dict[str, Any]], body: dict[str, Any]) -> Delivery:
        message, error = body.get(canvas.DL + "msg"), body.get(canvas.DL + "errormsg")
        return cls(uuid.uuid4().hex[:12], placement, user, datetime.now(UTC).isoformat(timespec="seconds"), items,
                   message if isinstance(message, str) else None, error if isinstance(error, str) else None)


class CourseStore:
    """The sandbox course in `<data_dir>/sandbox/course.json` (one process, one lock): deliveries and gradebook."""

    def __init__(self, folder: Path) -> None:
        self._path = folder / COURSE_FILE
        self._lock = threading.Lock()

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {"deliveries": [], "nonces": []}
        return data if isinstance(data, dict) else {"deliveries": [], "nonces": []}

    def _write(self, data: dict[str, Any]) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        scratch = self._path.with_name(f".{COURSE_FILE}.{os.getpid()}")
        scratch.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(scratch, self._path)  # readers see the old or the new file, never half of one

    def snapshot(self) -> dict[str, Any]:
        """The course data as stored now (a copy: changing it changes nothing)."""
        with self._lock:
            return self._read()

    def update(self, change: Callable[[dict[str, Any]], T]) -> T:
        """Read, change and write the course data as one step, so a check and the write it allows never part.

        `change` edits the dict in place and returns what the caller needs; if it raises, nothing is written.
        """
        with self._lock:
            data = self._read()
            result = change(data)
            self._write(data)
        return result

    def deliveries(self) -> list[Delivery]:
        return deliveries_of(self.snapshot())

    def add(self, delivery: Delivery, nonce: str,
            also: Callable[[dict[str, Any]], None] | None = None) -> bool:
        """Keep a delivery (and what `also` derives from it, in the same write); False when its response nonce
        was already used (Canvas takes each response once)."""
        with self._lock:
            data = self._read()
            nonces = [str(value) for value in data.get("nonces", [])]
            if nonce in nonces:
                return False
            data["nonces"] = [*nonces, nonce][-MAX_NONCES:]
            data["deliveries"] = [*data.get("deliveries", []), asdict(delivery)][-MAX_DELIVERIES:]
            if also is not None:
                also(data)
            self._write(data)
        return True

    def find(self, delivery_id: str) -> Delivery | None:
        return next((delivery for delivery in self.deliveries() if delivery.id == delivery_id), None)

    def use_jti(self, jti: str, forget_at: float, now: float | None = None) -> bool:
        """Record a client assertion's jti; False when it was recorded before.

        A jti is kept until `forget_at`, when the assertion would be refused anyway (its exp passed or its iat
        became too old), so the list stays short without letting a replay through.
        """
        moment = time.time() if now is None else now

        def change(data: dict[str, Any]) -> bool:
            raw = data.get("jtis")
            known = {str(key): float(value) for key, value in raw.items()
                     if isinstance(value, int | float)} if isinstance(raw, dict) else {}
            known = {key: until for key, until in known.items() if until >= moment}
            fresh = jti not in known
            if fresh:
                known[jti] = forget_at
            data["jtis"] = known
            return fresh

        return self.update(change)

    def clear(self) -> None:
        """Forget the deliveries and the gradebook."""
        with self._lock:
            data = self._read()
            self._write({"deliveries": [], **{key: data[key] for key in KEPT_ON_CLEAR if key in data}})


def deliveries_of(data: dict[str, Any]) -> list[Delivery]:
    """The deliveries in course data; entries from another version of the sandbox that do not fit are skipped."""
    raw = data.get("deliveries", [])
    found = []
    for entry in raw if isinstance(raw, list) else []:
        try:
            found.append(Delivery(**entry))
        except TypeError:
            continue
    return found


# -- how Canvas shows it ------------------------------------------------------------------------------------
def safe_url(value: Any) -> str | None:
    """An http(s) URL, or None: Canvas defangs javascript: and data: URLs, the sandbox drops them."""
    return value if isinstance(value, str) and value.startswith(("https://", "http://")) else None


def frame_size(value: Any) -> int | None:
    """A width or height in pixels, if it is a sensible one."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= 4000
    return int(value) if ok else None


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _points(line_item: Any) -> str | None:
    score = as_dict(line_item).get("scoreMaximum")
    return f"{score:g}" if isinstance(score, int | float) and not isinstance(score, bool) else None


@dataclass(frozen=True, slots=True)
class ShownItem:
    """One content item as the course page renders it (the fields Canvas reads, made safe)."""

    kind: str
    title: str
    text: str
    url: str | None
    html: str | None = None
    width: int | None = None  # image size, or the frame size of a link / ltiResourceLink
    height: int | None = None
    thumbnail: str | None = None
    thumbnail_width: int | None = None
    thumbnail_height: int | None = None
    frame_src: str | None = None  # a link item Canvas embeds as an iframe
    framed: bool = False  # an ltiResourceLink Canvas embeds as an iframe
    points: str | None = None
    launch: tuple[str, int] | None = None  # (delivery id, item index) of an ltiResourceLink the sandbox launches
    new_tab: bool = False


@dataclass(frozen=True, slots=True)
class ShownDelivery:
    """A delivery with the items Canvas keeps and notes on the ones it would not."""

    delivery: Delivery
    items: list[ShownItem]
    notes: list[str] = field(default_factory=list)

    @property
    def raw_json(self) -> str:
        return json.dumps(self.delivery.items, indent=2, ensure_ascii=False)


def shown_item(delivery: Delivery, index: int, item: dict[str, Any]) -> ShownItem:
    """The fields of one item that Canvas reads."""
    kind = _text(item.get("type"))
    frame, thumbnail, line_item = as_dict(item.get("iframe")), as_dict(item.get("thumbnail")), item.get("lineItem")
    label = as_dict(line_item).get("label")
    return ShownItem(
        kind=kind,
        # Canvas names assignments after lineItem.label when there is one.
        title=label if isinstance(label, str) and label else _text(item.get("title")),
        text=_text(item.get("text")),
        url=safe_url(item.get("url")),
        html=_text(item.get("html")) if kind == "html" else None,
        width=frame_size(item.get("width") if kind == "image" else frame.get("width")),
        height=frame_size(item.get("height") if kind == "image" else frame.get("height")),
        thumbnail=safe_url(thumbnail.get("url")),
        thumbnail_width=frame_size(thumbnail.get("width")),
        thumbnail_height=frame_size(thumbnail.get("height")),
        frame_src=safe_url(frame.get("src")) if kind == "link" else None,
        framed=kind == "ltiResourceLink" and "iframe" in item,
        points=_points(line_item),
        launch=(delivery.id, index) if kind == "ltiResourceLink" else None,
        new_tab=as_dict(item.get("window")).get("targetName") == "_blank",
    )


def _editor_notes(item: ShownItem) -> list[str]:
    """What the rich content editor does with an item that a tool author may not expect."""
    if item.kind == "html" and item.text:
        return [f"“{item.title}”: the editor inserts the html only; its text (“{item.text}”) is not shown."]
    if item.kind == "image" and item.thumbnail:
        return [f"“{item.title}”: with a thumbnail, the editor inserts the thumbnail linked to the image, "
                "not the image itself."]
    return []


def canvas_view(delivery: Delivery) -> ShownDelivery:
    """Keep what Canvas keeps for the placement, with a note for everything else."""
    indexed = list(enumerate(delivery.items))
    notes: list[str] = []
    if delivery.placement in {canvas.ASSIGNMENT, canvas.HOMEWORK} and len(indexed) > 1:
        notes.append(f"Canvas uses the first item only; {len(indexed) - 1} more were ignored.")
        indexed = indexed[:1]
    kept = []
    for index, item in indexed:
        kind = item.get("type")
        if delivery.placement == canvas.EDITOR and kind not in {"html", "image", "link", "ltiResourceLink"}:
            notes.append(f"Canvas's editor cannot insert {kind!r} items and drops them.")
        elif delivery.placement == canvas.MODULES and kind != "ltiResourceLink":
            notes.append(f"Modules keep only ltiResourceLink items; a {kind!r} item was ignored.")
        elif delivery.placement == canvas.HOMEWORK and kind not in {"file", "ltiResourceLink"}:
            notes.append(f"Canvas refuses a {kind!r} submission (“Unknown type”) and reloads the tool.")
        else:
            shown = shown_item(delivery, index, item)
            kept.append(shown)
            if delivery.placement == canvas.EDITOR:
                notes += _editor_notes(shown)
    if not delivery.items:
        notes.append("The tool sent no items: Canvas just closes the dialog.")
    return ShownDelivery(delivery, kept, notes)


def item_at(delivery: Delivery, index: int) -> dict[str, Any] | None:
    return delivery.items[index] if 0 <= index < len(delivery.items) else None
