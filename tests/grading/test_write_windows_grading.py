"""A quiz attempt and its delivery by the grade worker write last (see tests/lti/test_write_windows.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.grading.conftest import Graded, wait_for
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
