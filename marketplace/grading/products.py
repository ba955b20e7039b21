"""What differs between LMS products when grades are delivered, kept in small named classes (no `if canvas:`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from marketplace.lti import claims

CANVAS_SUBMISSION = "https://canvas.instructure.com/lti/submission"


@dataclass(frozen=True, slots=True)
class Product:
    """The AGS behaviour of one LMS product."""

    name: str = "generic"

    def score_extensions(self, submitted_at: str) -> dict[str, Any]:
        """Extra members of a score body this product understands."""
        return {}


@dataclass(frozen=True, slots=True)
class Canvas(Product):
    """Canvas: a new submission per attempt, and never overwrite a grade the teacher typed by hand."""

    name: str = "canvas"

    def score_extensions(self, submitted_at: str) -> dict[str, Any]:
        return {CANVAS_SUBMISSION: {"new_submission": True, "submitted_at": submitted_at,
                                    "prioritize_non_tool_grade": True}}


PRODUCTS: dict[str, Product] = {"canvas": Canvas(), "moodle": Product("moodle"), "generic": Product()}


def product_name(body: Mapping[str, Any]) -> str:
    """The product of the platform that sent a launch, from `tool_platform` or a Canvas issuer."""
    platform = body.get(claims.TOOL_PLATFORM)
    family = str(platform.get("product_family_code", "")).lower() if isinstance(platform, dict) else ""
    if family in PRODUCTS:
        return family
    if "instructure.com" in str(body.get("iss", "")):
        return "canvas"
    return "generic"


def product(name: str) -> Product:
    return PRODUCTS.get(name, PRODUCTS["generic"])
