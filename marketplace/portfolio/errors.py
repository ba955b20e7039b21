"""Why a portfolio request was refused: an HTTP status and a sentence for the student."""

from __future__ import annotations

from marketplace.errors import MarketplaceError


class PortfolioError(MarketplaceError):
    """A refused portfolio action; `message` is shown to the student as is."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(status, message)
