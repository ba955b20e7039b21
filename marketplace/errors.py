"""One family of errors people see: every refusal carries an HTTP status and a sentence that says what
happened and what to do next.

Domain packages raise subclasses (`LtiRefusal`, `PortfolioError`, `GradingError`, `RequestError`); the web
layer renders any of them in one place (`web/errors.py`) as a page, an htmx fragment or JSON, so no view
translates one error into another by hand. An error with a `check` (a launch refusal) is also logged with a
reference the person can quote, and the check is sent in the `X-LTI-Check` header.
"""

from __future__ import annotations


class MarketplaceError(Exception):
    """A refusal to show as is: `status` for HTTP, `message` for people, `parameter` for API callers."""

    check: str | None = None  # the failed check, for logs, tests and the X-LTI-Check header

    def __init__(self, status: int, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.parameter = parameter


class RequestError(MarketplaceError):
    """A request the web layer cannot take as sent (a bad parameter, a missing resource, a too-large body)."""
