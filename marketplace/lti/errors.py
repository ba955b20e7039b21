"""Why a login or launch was refused: the failed check and a sentence for the person in front of it."""

from __future__ import annotations


class LtiRefusal(Exception):
    """A refused LTI request; `check` names the failed check for logs and tests, `message` is for people."""

    def __init__(self, check: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.check = check
        self.message = message
        self.status = status


RELAUNCH = "Open the tool again from your course."


def refused(check: str, what: str, *, status: int = 400, advice: str = RELAUNCH) -> LtiRefusal:
    return LtiRefusal(check, f"{what} {advice}".strip(), status)
