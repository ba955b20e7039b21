"""Grading a quiz from its answer key. Pure functions: the score comes from the key, never from the browser."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from marketplace.grading.errors import GradingError

# Names of the form fields: q1, q2, … (one value per ticked option).
FIELD_PREFIX = "q"


def right_answers(question: Mapping[str, Any]) -> list[int]:
    """The indexes of the right options (rows loaded before several right answers existed carry `answer`)."""
    answers = question.get("answers")
    if isinstance(answers, list):
        return [int(index) for index in answers]
    return [int(question["answer"])]


def is_multiple(question: Mapping[str, Any]) -> bool:
    """Whether the question has several right answers (checkboxes) rather than one (radios)."""
    return len(right_answers(question)) > 1


@dataclass(frozen=True, slots=True)
class QuestionResult:
    """How one question was answered and what it earned."""

    number: int
    prompt: str
    options: tuple[str, ...]
    chosen: tuple[int, ...]
    right: tuple[int, ...]
    points: float
    earned: float
    explanation: str | None

    @property
    def correct(self) -> bool:
        return self.earned >= self.points

    @property
    def partly_correct(self) -> bool:
        return 0 < self.earned < self.points


@dataclass(frozen=True, slots=True)
class QuizResult:
    """The graded quiz: the total and each question's result."""

    score: float
    max_score: float
    questions: tuple[QuestionResult, ...]

    def answers(self) -> dict[str, list[int]]:
        """The answers as stored with the attempt: question number → chosen option indexes."""
        return {str(question.number): list(question.chosen) for question in self.questions}


def chosen_options(form: Mapping[str, Sequence[str]], questions: Sequence[Mapping[str, Any]]) -> list[list[int]]:
    """The options ticked for each question, from form fields `q<number>` (several values for checkboxes).

    Raises GradingError (422) naming the unanswered questions, and (400) for values that are not options.
    """
    chosen: list[list[int]] = []
    unanswered: list[int] = []
    for number, question in enumerate(questions, start=1):
        raw = [value for value in form.get(f"{FIELD_PREFIX}{number}", []) if value != ""]
        picks: list[int] = []
        for value in raw:
            if not value.isdigit() or int(value) >= len(question["options"]):
                raise GradingError(400, f"The answer to question {number} is not one of its options. Reload the "
                                        "quiz and answer again.")
            picks.append(int(value))
        if not picks:
            unanswered.append(number)
        if len(picks) > 1 and not is_multiple(question):
            raise GradingError(400, f"Question {number} takes one answer only. Choose one option.")
        chosen.append(sorted(set(picks)))
    if unanswered:
        listed = ", ".join(str(number) for number in unanswered)
        plural = "s" if len(unanswered) > 1 else ""
        raise GradingError(422, f"Answer every question before you submit: question{plural} {listed} "
                                f"{'have' if plural else 'has'} no answer yet.")
    return chosen


def _earned(question: Mapping[str, Any], picks: Sequence[int]) -> float:
    points = float(question["points"])
    right = set(right_answers(question))
    if len(right) == 1:
        return points if set(picks) == right else 0.0
    # Several right answers: each right tick earns its share and each wrong tick takes one away, never below 0,
    # so ticking every box earns nothing.
    hits = len(right.intersection(picks))
    misses = len(set(picks) - right)
    return round(points * max(0, hits - misses) / len(right), 6)


def grade(payload: Mapping[str, Any], picks: Sequence[Sequence[int]]) -> QuizResult:
    """Grade the chosen options against the quiz's answer key."""
    questions = payload["questions"]
    if len(picks) != len(questions):
        raise GradingError(400, "The answers do not match this quiz's questions. Reload the quiz and answer again.")
    results = []
    for number, (question, chosen) in enumerate(zip(questions, picks, strict=True), start=1):
        results.append(QuestionResult(
            number=number, prompt=str(question["prompt"]), options=tuple(question["options"]),
            chosen=tuple(sorted(chosen)), right=tuple(right_answers(question)), points=float(question["points"]),
            earned=_earned(question, chosen), explanation=question.get("explanation"),
        ))
    score = round(sum(result.earned for result in results), 6)
    return QuizResult(score=score, max_score=float(payload["max_score"]), questions=tuple(results))
