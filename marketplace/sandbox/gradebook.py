"""The sandbox course's gradebook as Canvas keeps it behind Assignment and Grade Services: columns (line
items), one result per student and column, and every score body the tool posted (shown on the gradebook page,
so a newcomer sees exactly what the tool sent and what the platform made of it).

The functions change the course data dict inside `CourseStore.update`, so a check and the write it allows are
one step. Refusals carry Canvas's status and sentence (shared reference, section 3.3).
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from marketplace.clock import aware
from marketplace.sandbox import canvas
from marketplace.sandbox.course import Delivery, as_dict, canvas_view, deliveries_of, link_id

ACTIVITY_PROGRESS = ("Initialized", "Started", "InProgress", "Submitted", "Completed")
GRADING_PROGRESS = ("NotReady", "Failed", "Pending", "PendingManual", "FullyGraded")
# Canvas applies scoreGiven only with these; any other score clears the grade (section 3.3).
GRADED = ("FullyGraded", "PendingManual")
REQUIRED_SCORE_FIELDS = ("userId", "activityProgress", "gradingProgress", "timestamp")
CANVAS_SUBMISSION = "https://canvas.instructure.com/lti/submission"
SUBMITTED_AT_AHEAD = timedelta(minutes=1)  # Canvas refuses a submitted_at further in the future
MAX_RECEIVED = 200
T = TypeVar("T")
# Placements where Canvas creates an assignment (and its line item) from a deep-linking `lineItem` (section 2.4).
COLUMN_PLACEMENTS = (canvas.ASSIGNMENT, canvas.MODULES)


class AgsError(Exception):
    """A refused service request: the HTTP status and the platform's sentence."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class LineItem:
    """A gradebook column."""

    id: str
    label: str
    score_maximum: float
    resource_id: str | None = None
    tag: str | None = None
    resource_link_id: str | None = None
    origin: str | None = None  # "<delivery id>/<index>" of the deep-linking item the column was created from


@dataclass(frozen=True, slots=True)
class Result:
    """A student's grade in one column, on the column's scale."""

    line_item: str
    user_id: str
    score: float | None  # None: no grade (Canvas clears it when a score is not FullyGraded/PendingManual)
    activity_progress: str
    grading_progress: str
    timestamp: str  # the score's timestamp as sent; Canvas keeps it as the result's updated_at
    comment: str | None = None
    submitted_at: str | None = None


@dataclass(frozen=True, slots=True)
class ReceivedScore:
    """One score POST as it arrived, and the sandbox's answer to it."""

    line_item: str
    received_at: str
    body: dict[str, Any]
    status: int
    message: str | None = None

    @property
    def pretty_body(self) -> str:
        return json.dumps(self.body, indent=2, ensure_ascii=False)


def _load(data: dict[str, Any], key: str, kind: type[T]) -> list[T]:
    raw = data.get(key, [])
    found: list[T] = []
    for entry in raw if isinstance(raw, list) else []:
        try:
            found.append(kind(**entry))
        except TypeError:
            continue  # written by another version of the sandbox
    return found


def line_items(data: dict[str, Any]) -> list[LineItem]:
    return _load(data, "line_items", LineItem)


def results(data: dict[str, Any]) -> list[Result]:
    return _load(data, "results", Result)


def received(data: dict[str, Any]) -> list[ReceivedScore]:
    return _load(data, "scores", ReceivedScore)


def find_line_item(data: dict[str, Any], item_id: str) -> LineItem | None:
    return next((item for item in line_items(data) if item.id == item_id), None)


def _number(value: Any) -> float | None:
    """A JSON number as a float (booleans and NaN are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _new_id() -> str:
    return uuid.uuid4().hex[:12]  # never reused, so a column cleared away stays gone for the tool (404)


# -- columns --------------------------------------------------------------------------------------------------
def add_deep_link_columns(data: dict[str, Any], delivery: Delivery) -> None:
    """Create the columns Canvas creates for a deep-linking response: one per kept ltiResourceLink whose
    `lineItem` has a scoreMaximum (without one, Canvas reports an error and skips the item)."""
    if delivery.placement not in COLUMN_PLACEMENTS:
        return
    created = []
    for shown in canvas_view(delivery).items:
        if shown.launch is None:
            continue
        index = shown.launch[1]
        item = delivery.items[index]
        line_item = as_dict(item.get("lineItem"))
        maximum = _number(line_item.get("scoreMaximum"))
        if maximum is None or maximum < 0:
            continue
        label = _text(line_item.get("label")) or _text(item.get("title")) or "Untitled assignment"
        created.append(LineItem(_new_id(), label, maximum, _text(line_item.get("resourceId")),
                                _text(line_item.get("tag")), link_id(delivery.id, index),
                                f"{delivery.id}/{index}"))
    data["line_items"] = [*data.get("line_items", []), *(asdict(item) for item in created)]


def column_of_link(data: dict[str, Any], delivery_id: str, index: int) -> LineItem | None:
    """The column a placed item's launches name as `lineitem`: Canvas sends it when the item's assignment has
    exactly one line item."""
    coupled = [item for item in line_items(data) if item.origin == f"{delivery_id}/{index}"]
    return coupled[0] if len(coupled) == 1 else None


def _course_links(data: dict[str, Any]) -> set[str]:
    return {link_id(delivery.id, index) for delivery in deliveries_of(data)
            for index, item in enumerate(delivery.items) if item.get("type") == "ltiResourceLink"}


def create_line_item(data: dict[str, Any], body: Any) -> LineItem:
    """A new column from a tool's POST, checked as Canvas checks it."""
    if not isinstance(body, dict):
        raise AgsError(400, "The line item must be a JSON object.")
    maximum = _number(body.get("scoreMaximum"))
    if maximum is None or maximum < 0:
        raise AgsError(400, "scoreMaximum is required and must be a number of at least 0.")
    label = _text(body.get("label"))
    if label is None or not label.strip():
        raise AgsError(400, "label is required.")
    for name in ("resourceId", "tag", "resourceLinkId"):
        if body.get(name) is not None and not isinstance(body.get(name), str):
            raise AgsError(400, f"{name} must be a string.")
    link = _text(body.get("resourceLinkId"))
    if link is not None:
        # Canvas takes resourceLinkId only for a link of this tool in the course whose assignment already has a
        # line item; an editor embed or a module link without lineItem has none (section 3.2).
        if link not in _course_links(data):
            raise AgsError(404, f"The resource link {link!r} was not found in this course.")
        if not any(item.resource_link_id == link and item.origin for item in line_items(data)):
            raise AgsError(412, f"The resource link {link!r} has no assignment, so no line item can be added to it.")
    item = LineItem(_new_id(), label.strip(), maximum, _text(body.get("resourceId")), _text(body.get("tag")), link)
    data["line_items"] = [*data.get("line_items", []), asdict(item)]
    return item


def filter_line_items(items: list[LineItem], *, resource_link_id: str | None = None, tag: str | None = None,
                      resource_id: str | None = None) -> list[LineItem]:
    """The columns matching every given filter (the AGS list filters)."""
    return [item for item in items
            if (resource_link_id is None or item.resource_link_id == resource_link_id)
            and (tag is None or item.tag == tag)
            and (resource_id is None or item.resource_id == resource_id)]


# -- scores ---------------------------------------------------------------------------------------------------
def _moment(value: Any) -> datetime | None:
    """An ISO 8601 moment (UTC when it names no zone), or None."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return aware(moment)


def _submitted_at(body: dict[str, Any]) -> str | None:
    """AGS 2.0's submission.submittedAt, else Canvas's extension submitted_at."""
    return _text(as_dict(body.get("submission")).get("submittedAt")) or _text(
        as_dict(body.get(CANVAS_SUBMISSION)).get("submitted_at"))


def _checked_score(body: Any, now: datetime) -> tuple[float | None, float | None]:
    """scoreGiven and scoreMaximum of a valid score body; AgsError for anything Canvas refuses."""
    if not isinstance(body, dict):
        raise AgsError(400, "The score must be a JSON object.")
    missing = [name for name in REQUIRED_SCORE_FIELDS if body.get(name) in (None, "")]
    if missing:
        raise AgsError(400, f"Missing required field{'s' if len(missing) > 1 else ''}: {', '.join(missing)}.")
    if not isinstance(body["userId"], str | int) or isinstance(body["userId"], bool):
        raise AgsError(400, "userId must be the user's LTI id (the launch's sub).")
    for name, allowed in (("activityProgress", ACTIVITY_PROGRESS), ("gradingProgress", GRADING_PROGRESS)):
        if body[name] not in allowed:
            raise AgsError(400, f"{name} {body[name]!r} is not one of {', '.join(allowed)}.")
    if _moment(body["timestamp"]) is None:
        raise AgsError(400, f"Provided timestamp of {body['timestamp']} not a valid timestamp")
    given, maximum = body.get("scoreGiven"), body.get("scoreMaximum")
    if given is not None and (_number(given) is None or float(given) < 0):
        raise AgsError(400, "ScoreGiven must be a number of at least 0.")
    if maximum is not None and (_number(maximum) is None or float(maximum) < 0):
        raise AgsError(422, "ScoreMaximum must be greater than or equal to 0")
    if given is not None and maximum is None:
        raise AgsError(422, "ScoreMaximum not supplied when ScoreGiven present.")
    if given is not None and maximum == 0:
        raise AgsError(422, "ScoreMaximum must be greater than 0 when ScoreGiven is present (the sandbox scales "
                            "scoreGiven to the column's maximum).")
    submitted = _submitted_at(body)
    if submitted is not None:
        moment = _moment(submitted)
        if moment is None:
            raise AgsError(400, f"Provided submitted_at timestamp of {submitted} not a valid timestamp")
        if moment > now + SUBMITTED_AT_AHEAD:
            raise AgsError(400, f"Provided submitted_at timestamp of {submitted} in the future.")
    return _number(given), _number(maximum)


def _apply_score(data: dict[str, Any], item: LineItem, body: Any, now: datetime) -> Result:
    given, maximum = _checked_score(body, now)
    user_id = str(body["userId"])
    if user_id not in {student.sub for student in canvas.STUDENTS}:
        raise AgsError(422, "User not found in course or is not a student")
    kept = results(data)
    previous = next((result for result in kept if result.line_item == item.id and result.user_id == user_id), None)
    if previous is not None:
        before, sent = _moment(previous.timestamp), _moment(body["timestamp"])
        if before is not None and sent is not None and sent < before:
            raise AgsError(400, f"Provided timestamp of {body['timestamp']} before last updated timestamp of "
                                f"{previous.timestamp}")
    score = None
    if body["gradingProgress"] in GRADED and given is not None and maximum:
        # Canvas scales to the column: scoreGiven × (lineItem.scoreMaximum / scoreMaximum).
        score = round(given * item.score_maximum / maximum, 6)
    result = Result(item.id, user_id, score, str(body["activityProgress"]), str(body["gradingProgress"]),
                    str(body["timestamp"]), _text(body.get("comment")), _submitted_at(body))
    data["results"] = [*(asdict(other) for other in kept if other is not previous), asdict(result)]
    return result


def receive_score(data: dict[str, Any], item_id: str, body: Any, now: datetime) -> Result | AgsError:
    """Apply a posted score, or the refusal; either way the body is kept for the gradebook page."""
    item = find_line_item(data, item_id)
    if item is None:  # cleared away since the request began
        return AgsError(404, "The line item was not found.")
    try:
        outcome: Result | AgsError = _apply_score(data, item, body, now)
    except AgsError as refusal:
        outcome = refusal
    status, message = (200, None) if isinstance(outcome, Result) else (outcome.status, outcome.message)
    entry = ReceivedScore(item.id, now.isoformat(timespec="seconds"), body if isinstance(body, dict) else
                          {"(not an object)": body}, status, message)
    data["scores"] = [*data.get("scores", []), asdict(entry)][-MAX_RECEIVED:]
    return outcome


def results_of(data: dict[str, Any], item_id: str, user_id: str | None = None) -> list[Result]:
    """The column's results in roster order (or one user's)."""
    order = {student.sub: number for number, student in enumerate(canvas.STUDENTS)}
    found = [result for result in results(data) if result.line_item == item_id
             and (user_id is None or result.user_id == user_id)]
    return sorted(found, key=lambda result: (order.get(result.user_id, len(order)), result.user_id))


# -- the gradebook page ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Cell:
    result: Result | None

    @property
    def score(self) -> str | None:
        return f"{self.result.score:g}" if self.result is not None and self.result.score is not None else None


@dataclass(frozen=True, slots=True)
class StudentRow:
    student: canvas.SandboxUser
    cells: list[Cell]


@dataclass(frozen=True, slots=True)
class GradebookView:
    """Columns (label, points) across, students down, each cell the student's result."""

    columns: list[LineItem]
    rows: list[StudentRow]
    received: list[ReceivedScore]  # newest first


def gradebook_view(data: dict[str, Any]) -> GradebookView:
    columns = line_items(data)
    by_key = {(result.line_item, result.user_id): result for result in results(data)}
    rows = [StudentRow(student, [Cell(by_key.get((column.id, student.sub))) for column in columns])
            for student in canvas.STUDENTS]
    return GradebookView(columns, rows, list(reversed(received(data))))
