"""Grading failures people see: a status and a sentence that says what happened and what to do next."""

from __future__ import annotations


class GradingError(Exception):
    """A refused grading request (bad answers, no attempts left, not allowed) with its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
