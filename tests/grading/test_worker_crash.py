"""The worker process (`marketplace grades sync`) killed with SIGKILL mid-delivery and started again: nothing is
lost and nothing reaches the gradebook twice; the grade CLI reports and retries."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import update

from marketplace.clock import utc_now
from marketplace.store.models import GradeJobRow
from tests.grading.conftest import COURSE, Graded, wait_for
from tests.grading.gradebook_peer import Fault

pytestmark = pytest.mark.manual_delivery
LEARNERS = [f"learner-{number:02d}" for number in range(20)]


def cli_env(graded: Graded) -> dict[str, str]:
    settings = graded.env.settings
    return {**os.environ, "MARKETPLACE_ENV": "test", "MARKETPLACE_DATABASE_URL": settings.database_url,
            "MARKETPLACE_DATA_DIR": str(settings.data_dir), "MARKETPLACE_CONTENT_DIR": str(settings.content_dir),
            "MARKETPLACE_SECRET_KEY": settings.secret_key, "MARKETPLACE_BASE_URL": settings.base_url}


def cli(graded: Graded, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "marketplace.cli", "grades", *args], env=cli_env(graded),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_killed_worker_loses_nothing_and_sends_nothing_twice(graded: Graded) -> None:
    gradebook = graded.gradebook
    gradebook.add_members(COURSE, *((user, user.title(), "learner") for user in LEARNERS))
    for user in LEARNERS:
        _, token = graded.launch(user)
        assert graded.submit(token, {"q1": "0"}).status_code == 200
    gradebook.faults.append(Fault("score", 0, delay=0.4, count=10_000))  # a slow gradebook: many in flight
    worker = cli(graded, "sync")
    wait_for(lambda: gradebook.score_calls >= 5, timeout=30, what="scores in flight")
    worker.send_signal(signal.SIGKILL)
    worker.communicate(timeout=10)
    gradebook.faults.clear()
    in_flight = [job for job in graded.jobs() if job.state == "pending" and job.claimed_at is not None]
    assert in_flight, "the kill should leave jobs in flight"
    # Time passes: the dead worker's leases run out.
    with graded.env.sessions() as session:
        session.execute(update(GradeJobRow).values(lease_until=utc_now() - timedelta(seconds=1)))
        session.commit()
    wait_for(lambda: gradebook.scores_in_flight == 0, timeout=10, what="the slow answers to finish")
    again = cli(graded, "sync")
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    jobs = graded.jobs()
    assert [job.state for job in jobs] == ["sent"] * len(LEARNERS)
    arrived = Counter((score["userId"], score["timestamp"]) for score in gradebook.scores)
    assert set(arrived) == {(job.user_sub, job.score_timestamp) for job in jobs}  # nothing lost
    assert max(arrived.values()) == 1  # nothing twice
    confirmed = [job for job in jobs if job.last_message and "Confirmed in the gradebook" in job.last_message]
    assert confirmed, "scores that arrived before the kill are confirmed by reading the gradebook, not re-sent"
    assert gradebook.problems == []


def test_status_retry_and_sync_from_the_command_line(graded: Graded) -> None:
    gradebook = graded.gradebook
    refusal = {"errors": {"message": "User not found in course or is not a student"}}
    gradebook.faults.append(Fault("score", 422, refusal, count=2))
    for user in ("ada", "bob", "cy"):
        _, token = graded.launch(user)
        graded.submit(token, {"q1": "0"})
    status = cli(graded, "status")
    out, _ = status.communicate(timeout=60)
    assert "PENDING" in out and "Loopback LMS" in out
    synced = cli(graded, "sync")
    out, err = synced.communicate(timeout=120)
    assert synced.returncode == 0, err
    assert "1 sent" in out and "2 failed" in out
    usage = cli(graded, "retry")
    _, err = usage.communicate(timeout=60)
    assert usage.returncode == 2 and "--failed" in err
    retried = cli(graded, "retry", "--failed")
    out, _ = retried.communicate(timeout=60)
    assert "Queued 2 failed grades again." in out
    synced = cli(graded, "sync")
    out, _ = synced.communicate(timeout=120)
    assert "2 sent" in out
    assert sorted(score["userId"] for score in gradebook.scores) == ["ada", "bob", "cy"]


def test_an_in_doubt_score_the_gradebook_cannot_confirm_is_sent_again_not_assumed(graded: Graded) -> None:
    gradebook = graded.gradebook
    _, token = graded.launch("ada")
    graded.submit(token, {"q1": "0"})
    graded.deliver()
    graded.submit(token, {"q1": "1"})  # best policy: 2 again, so the gradebook shows 2 either way
    with graded.env.sessions() as session:
        session.execute(update(GradeJobRow).where(GradeJobRow.state == "pending").values(
            claimed_at=utc_now(), lease_until=utc_now() - timedelta(seconds=1)))  # a worker died holding it
        session.commit()
    graded.deliver()
    first, second = graded.jobs()
    assert second.state == "sent" and "Confirmed" not in (second.last_message or "")
    assert [score["timestamp"] for score in gradebook.scores] == [first.score_timestamp, second.score_timestamp]


def test_an_in_doubt_score_already_in_the_gradebook_is_confirmed_not_sent_twice(graded: Graded) -> None:
    gradebook = graded.gradebook
    _, token = graded.launch("ada")
    graded.submit(token, {"q1": "1"})
    graded.deliver()
    graded.submit(token, {"q1": "0"})
    graded.deliver()
    with graded.env.sessions() as session:  # the second call arrived, but its worker died before recording it
        session.execute(update(GradeJobRow).where(GradeJobRow.id == graded.jobs()[1].id).values(
            state="pending", claimed_at=utc_now(), lease_until=utc_now() - timedelta(seconds=1)))
        session.commit()
    graded.deliver()
    assert len(gradebook.scores) == 2
    assert "Confirmed in the gradebook" in (graded.jobs()[1].last_message or "")


def test_sync_does_not_wait_for_jobs_another_worker_holds(graded: Graded) -> None:
    import time

    _, token = graded.launch("ada")
    graded.submit(token, {"q1": "0"})
    with graded.env.sessions() as session:
        session.execute(update(GradeJobRow).values(lease_until=utc_now() + timedelta(seconds=100)))
        session.commit()
    started = time.monotonic()
    graded.deliver()
    assert time.monotonic() - started < 5 and [job.state for job in graded.jobs()] == ["pending"]
