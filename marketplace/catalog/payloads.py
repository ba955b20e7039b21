"""Validation of each resource type's `[payload]` table.

Each validator takes the raw TOML table and returns the normalised payload, or raises PayloadError naming
the offending key, so the loader can point at the line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

ALLOWED_HTML_TAGS = frozenset(
    "p h2 h3 h4 ul ol li strong em b i a blockquote figure figcaption iframe br span code pre "
    "table thead tbody tr th td sup sub small".split()
)
ALLOWED_HTML_ATTRIBUTES = frozenset(
    "href src title width height allow allowfullscreen frameborder loading referrerpolicy lang "
    "colspan rowspan scope cite class start reversed alt".split()
)


class PayloadError(ValueError):
    """A payload value is missing or wrong; `key` names it (dotted for nested values)."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(reason)
        self.key = key
        self.reason = reason


def _text(table: dict[str, Any], key: str, *, required: bool = True, max_len: int = 100_000) -> str | None:
    value = table.get(key)
    if value is None:
        if required:
            raise PayloadError(key, f"payload.{key} is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise PayloadError(key, f"payload.{key} must be a non-empty string")
    if len(value) > max_len:
        raise PayloadError(key, f"payload.{key} is longer than {max_len} characters")
    return value.strip()


def _https_url(table: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    value = _text(table, key, required=required, max_len=2000)
    if value is not None and not value.startswith("https://"):
        raise PayloadError(key, f"payload.{key} must be an https:// URL, got {value!r}")
    return value


def _positive_int(table: dict[str, Any], key: str, *, maximum: int = 10_000) -> int:
    value = table.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= maximum:
        raise PayloadError(key, f"payload.{key} must be a whole number between 1 and {maximum}")
    return value


def _positive_number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise PayloadError(key, f"payload.{key} must be a number greater than 0")
    return float(value)


def _link(table: dict[str, Any], _files_dir: Path) -> dict[str, Any]:
    embeddable = table.get("embeddable", False)
    if not isinstance(embeddable, bool):
        raise PayloadError("embeddable", "payload.embeddable must be true or false")
    return {"url": _https_url(table, "url"), "embeddable": embeddable}


# A snippet's own credit line: fine print or a caption naming a licence. The tool appends the credit from
# [license] to every inserted snippet, so a second one in the snippet would show the credit twice.
_CREDIT_TAGS = frozenset({"small", "figcaption"})
_CREDIT_WORDS = re.compile(r"\b(cc[ -]?by|cc0|public domain|licen[cs]ed)\b|©", re.IGNORECASE)


class _HtmlChecker(HTMLParser):
    """Walks a snippet and records the first thing outside the allowed subset.

    A validator rather than a sanitiser: catalog authors get told what to fix instead of having their
    markup silently rewritten, so no sanitising library is needed here.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problem: str | None = None
        self._fine_print = 0  # how many <small>/<figcaption> are open

    def handle_endtag(self, tag: str) -> None:
        if tag in _CREDIT_TAGS and self._fine_print:
            self._fine_print -= 1

    def handle_data(self, data: str) -> None:
        if self.problem or not self._fine_print:
            return
        found = _CREDIT_WORDS.search(data)
        if found:
            self.problem = (f"the snippet carries its own credit line ({found.group(0)!r} in fine print or a "
                            "caption); leave it out: the credit from [license] is added once when it is inserted")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.problem:
            return
        if tag not in ALLOWED_HTML_TAGS:
            self.problem = f"the tag <{tag}> is not allowed in an html snippet"
            return
        if tag in _CREDIT_TAGS:
            self._fine_print += 1
        for name, value in attrs:
            if name.startswith("on") or name not in ALLOWED_HTML_ATTRIBUTES and not name.startswith("aria-"):
                self.problem = f"the attribute {name!r} on <{tag}> is not allowed"
                return
            if name in {"href", "src"}:
                url = (value or "").strip()
                if tag == "iframe" and not url.startswith("https://"):
                    self.problem = f"<iframe src> must be an https:// URL, got {url!r}"
                    return
                if tag == "a" and not (url.startswith("https://") or url.startswith("#")):
                    self.problem = f"<a href> must be an https:// URL, got {url!r}"
                    return

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self.handle_endtag(tag)  # a self-closed <small/> holds no text


def _html(table: dict[str, Any], _files_dir: Path) -> dict[str, Any]:
    snippet = _text(table, "html", max_len=50_000)
    assert snippet is not None  # noqa: S101 - required=True guarantees it
    checker = _HtmlChecker()
    checker.feed(snippet)
    checker.close()
    if checker.problem:
        raise PayloadError("html", checker.problem)
    return {"html": snippet}


def _image(table: dict[str, Any], _files_dir: Path) -> dict[str, Any]:
    return {
        "url": _https_url(table, "url"),
        "width": _positive_int(table, "width", maximum=20_000),
        "height": _positive_int(table, "height", maximum=20_000),
        "alt": _text(table, "alt", max_len=500),
    }


def _file(table: dict[str, Any], files_dir: Path) -> dict[str, Any]:
    relative = _text(table, "path", max_len=300)
    media_type = _text(table, "media_type", max_len=100)
    assert relative is not None and media_type is not None  # noqa: S101 - required=True guarantees it
    if "/" not in media_type:
        raise PayloadError("media_type", f"payload.media_type must look like type/subtype, got {media_type!r}")
    target = (files_dir / relative).resolve()
    if not target.is_relative_to(files_dir.resolve()):
        raise PayloadError("path", f"payload.path {relative!r} points outside content/files/")
    if not target.is_file():
        raise PayloadError("path", f"payload.path {relative!r} does not exist in content/files/")
    return {
        "path": relative,
        "media_type": media_type,
        "filename": target.name,
        "size": target.stat().st_size,
    }


def _reading(table: dict[str, Any], _files_dir: Path) -> dict[str, Any]:
    return {
        "body": _text(table, "body", max_len=200_000),
        "minutes": _positive_int(table, "minutes", maximum=600),
        "source_url": _https_url(table, "source_url", required=False),
    }


def _simulation(table: dict[str, Any], _files_dir: Path) -> dict[str, Any]:
    return {
        "url": _https_url(table, "url"),
        "width": _positive_int(table, "width", maximum=5000),
        "height": _positive_int(table, "height", maximum=5000),
        "instructions": _text(table, "instructions", required=False, max_len=5000),
    }


def _answer_indexes(answer: Any, option_count: int, number: int, where: str) -> list[int]:
    """`answer` as a sorted list of 0-based option indexes: an int, or a list of ints for several right answers."""
    given = answer if isinstance(answer, list) else [answer]
    if not given or not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < option_count for i in given):
        raise PayloadError(
            f"{where}.answer",
            f"question {number}: answer must be the 0-based index of an option (0 to {option_count - 1}), "
            "or a list of them when several options are right",
        )
    if len(set(given)) != len(given):
        raise PayloadError(f"{where}.answer", f"question {number}: the same answer is listed twice")
    return sorted(given)


def _quiz(table: dict[str, Any], _files_dir: Path) -> dict[str, Any]:
    questions = table.get("questions")
    if not isinstance(questions, list) or not questions:
        raise PayloadError("questions", "a quiz needs at least one [[payload.questions]]")
    normalised: list[dict[str, Any]] = []
    for number, question in enumerate(questions, start=1):
        where = f"questions[{number}]"
        if not isinstance(question, dict):
            raise PayloadError("questions", f"question {number} must be a table")
        prompt = question.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise PayloadError(f"{where}.prompt", f"question {number} needs a prompt")
        options = question.get("options")
        if (
            not isinstance(options, list)
            or not 2 <= len(options) <= 6
            or not all(isinstance(option, str) and option.strip() for option in options)
        ):
            raise PayloadError(f"{where}.options", f"question {number} needs 2 to 6 non-empty options")
        if len(set(options)) != len(options):
            raise PayloadError(f"{where}.options", f"question {number} has the same option twice")
        answers = _answer_indexes(question.get("answer"), len(options), number, where)
        points = _positive_number(question.get("points", 1), f"{where}.points")
        explanation = question.get("explanation")
        if explanation is not None and not isinstance(explanation, str):
            raise PayloadError(f"{where}.explanation", f"question {number}: explanation must be text")
        normalised.append(
            {
                "prompt": prompt.strip(),
                "options": [option.strip() for option in options],
                # Indexes of the right options: one for a single-choice question, several for "select all".
                "answers": answers,
                "points": points,
                "explanation": explanation,
            }
        )
    max_score = _positive_number(table.get("max_score"), "max_score")
    total = sum(question["points"] for question in normalised)
    if abs(total - max_score) > 1e-9:
        raise PayloadError("max_score", f"max_score is {max_score:g} but the questions' points add up to {total:g}")
    return {"max_score": max_score, "questions": normalised}


PAYLOAD_VALIDATORS: dict[str, Callable[[dict[str, Any], Path], dict[str, Any]]] = {
    "link": _link,
    "html": _html,
    "image": _image,
    "file": _file,
    "reading": _reading,
    "simulation": _simulation,
    "quiz": _quiz,
}
