"""Why a login or launch was refused: the failed check and a sentence for the person in front of it."""

from __future__ import annotations

from marketplace.errors import MarketplaceError


class LtiRefusal(MarketplaceError):
    """A refused LTI request; `check` names the failed check for logs and tests, `message` is for people."""

    def __init__(self, check: str, message: str, status: int = 400) -> None:
        super().__init__(status, message, parameter=check)
        self.check = check


RELAUNCH = "Open the tool again from your course."


def refused(check: str, what: str, *, status: int = 400, advice: str = RELAUNCH) -> LtiRefusal:
    return LtiRefusal(check, f"{what} {advice}".strip(), status)
