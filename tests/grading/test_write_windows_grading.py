"""A quiz attempt and its delivery by the grade worker write last (see tests/lti/test_write_windows.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from marketplace.store.models import GradeJobRow, QuizAttemptRow
from marketplace.web.services import services
from tests.grading.conftest import Graded, wait_for
from tests.lti.test_stored_once_races import competitor_before_flush, copy_of
from tests.lti.test_write_windows import Transactions, recording


@pytest.fixture
def transactions(graded: Graded) -> Iterator[Transactions]:
    with recording(graded.app) as seen:
        yield seen


def test_an_attempt_and_its_delivery_write_last(graded: Graded, transactions: Transactions) -> None:
    for answer in ("1", "0"):  # the second attempt reads the series' last timestamp
        _, token = graded.launch("ada")
        assert graded.submit(token, {"q1": answer}).status_code == 200
    wait_for(lambda: [s["scoreGiven"] for s in graded.gradebook.scores] == [0.0, 2.0], what="both scores")
    wait_for(lambda: graded.job_states() and all(state == "sent" for _, state in graded.job_states()),
             what="the jobs marked sent")
    statements = sum(transactions.finished, [])
    assert sum(sql.startswith("INSERT INTO quiz_attempts") for sql in statements) == 2
    assert any(sql.startswith("UPDATE grade_jobs SET lease_owner") for sql in statements)
    assert transactions.reads_after_writes() == []


def test_an_attempt_that_loses_a_race_for_its_number_gets_a_sentence(graded: Graded) -> None:
    """Two submissions of the same attempt at once: the one whose insert comes second is told so (409), and the
    first one's attempt is the only one stored, with no grade job of the loser's."""
    _, token = graded.launch("ada")

    def store_first(row: QuizAttemptRow) -> None:
        with graded.env.sessions() as other:
            other.add(copy_of(row, id="the-competitor"))
            other.commit()

    with competitor_before_flush(services(graded.app).sessions, QuizAttemptRow, store_first) as raced:
        answer = graded.submit(token, {"q1": "0"})
    assert raced and answer.status_code == 409, answer.text
    assert "submitted twice at the same moment" in answer.text
    with graded.env.sessions() as session:
        assert session.scalars(select(QuizAttemptRow.id)).all() == ["the-competitor"]
        assert session.scalars(select(GradeJobRow.id)).all() == []
