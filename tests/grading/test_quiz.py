"""Grading from the answer key: right, wrong, partly right, unanswered, and answers that are not options."""

from __future__ import annotations

import pytest

from marketplace.grading.errors import GradingError
from marketplace.grading.policy import QuizPolicy
from marketplace.grading.quiz import chosen_options, grade

PAYLOAD = {
    "max_score": 5,
    "questions": [
        {"prompt": "One?", "options": ["a", "b", "c"], "answers": [1], "points": 2, "explanation": "b it is"},
        {"prompt": "Several?", "options": ["w", "x", "y", "z"], "answers": [0, 2], "points": 2, "explanation": None},
        # A row stored before several right answers existed carries `answer`.
        {"prompt": "Old?", "options": ["yes", "no"], "answer": 0, "points": 1},
    ],
}


def picks(form: dict[str, list[str]]) -> list[list[int]]:
    return chosen_options(form, PAYLOAD["questions"])


def test_all_right_scores_the_maximum() -> None:
    result = grade(PAYLOAD, picks({"q1": ["1"], "q2": ["0", "2"], "q3": ["0"]}))
    assert (result.score, result.max_score) == (5.0, 5.0)
    assert all(question.correct for question in result.questions)
    assert result.questions[0].explanation == "b it is"


def test_all_wrong_scores_zero() -> None:
    result = grade(PAYLOAD, picks({"q1": ["0"], "q2": ["1", "3"], "q3": ["1"]}))
    assert result.score == 0.0 and not any(question.correct for question in result.questions)


@pytest.mark.parametrize(("ticked", "earned"), [(["0"], 1.0), (["0", "1"], 0.0), (["0", "2", "1"], 1.0),
                                                 (["0", "1", "2", "3"], 0.0)])
def test_several_right_answers_earn_their_share_less_the_wrong_ticks(ticked: list[str], earned: float) -> None:
    result = grade(PAYLOAD, picks({"q1": ["1"], "q2": ticked, "q3": ["0"]}))
    assert result.questions[1].earned == earned
    assert result.score == 3.0 + earned
    assert result.questions[1].partly_correct == (0 < earned < 2)


def test_unanswered_questions_are_named_not_scored() -> None:
    with pytest.raises(GradingError) as refused:
        picks({"q1": ["1"], "q2": [""]})
    assert refused.value.status == 422
    assert "questions 2, 3 have no answer yet" in refused.value.message


@pytest.mark.parametrize("value", ["7", "-1", "x", "1.0"])
def test_an_answer_that_is_not_an_option_is_refused(value: str) -> None:
    with pytest.raises(GradingError) as refused:
        picks({"q1": [value], "q2": ["0"], "q3": ["0"]})
    assert refused.value.status == 400


def test_two_answers_to_a_single_choice_question_are_refused() -> None:
    with pytest.raises(GradingError, match="one answer only"):
        picks({"q1": ["0", "1"], "q2": ["0"], "q3": ["0"]})


def test_the_policy_reads_custom_values_and_falls_back_safely() -> None:
    assert QuizPolicy.from_custom({"attempts_allowed": "3", "grade_policy": "latest"}) == QuizPolicy(3, "latest")
    assert QuizPolicy.from_custom({"attempts_allowed": "0", "grade_policy": "worst"}) == QuizPolicy(None, "best")
    assert QuizPolicy.from_custom({"attempts_allowed": "$Canvas.x"}) == QuizPolicy(None, "best")
    assert QuizPolicy(None, "best").score_to_send([3, 5, 4]) == 5
    assert QuizPolicy(None, "latest").score_to_send([3, 5, 4]) == 4
    assert QuizPolicy(2, "best").attempts_left(2) == 0 and QuizPolicy(None).attempts_left(9) is None
