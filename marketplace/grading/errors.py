"""Grading failures people see: a status and a sentence that says what happened and what to do next."""

from __future__ import annotations

from marketplace.errors import MarketplaceError


class GradingError(MarketplaceError):
    """A refused grading request (bad answers, no attempts left, not allowed) with its HTTP status."""
