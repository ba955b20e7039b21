"""What the instructor chose when adding a graded quiz (carried in the item's `custom` values): attempts allowed
and which attempt's score goes to the gradebook."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

ATTEMPTS_KEY = "attempts_allowed"
POLICY_KEY = "grade_policy"
BEST = "best"
LATEST = "latest"
POLICIES = (BEST, LATEST)
MAX_ATTEMPTS_ALLOWED = 100


@dataclass(frozen=True, slots=True)
class QuizPolicy:
    """Attempts allowed (None: unlimited) and the grade policy (best or latest attempt)."""

    attempts_allowed: int | None = None
    grade_policy: str = BEST

    @classmethod
    def from_custom(cls, custom: Mapping[str, str]) -> QuizPolicy:
        """Read the custom values; anything unreadable falls back to the default rather than locking learners out."""
        raw_attempts = str(custom.get(ATTEMPTS_KEY, "")).strip()
        attempts = int(raw_attempts) if raw_attempts.isdigit() and 0 < int(raw_attempts) <= MAX_ATTEMPTS_ALLOWED \
            else None
        policy = str(custom.get(POLICY_KEY, "")).strip().lower()
        return cls(attempts, policy if policy in POLICIES else BEST)

    def score_to_send(self, scores: Sequence[float]) -> float:
        """The score the gradebook gets, given every attempt's score so far in order (the last is the newest)."""
        return max(scores) if self.grade_policy == BEST else scores[-1]

    def attempts_left(self, used: int) -> int | None:
        return None if self.attempts_allowed is None else max(0, self.attempts_allowed - used)

    def describe(self) -> str:
        attempts = "unlimited attempts" if self.attempts_allowed is None else (
            f"{self.attempts_allowed} attempt{'s' if self.attempts_allowed != 1 else ''}")
        return f"{attempts}; the gradebook gets the {'best' if self.grade_policy == BEST else 'latest'} score"
