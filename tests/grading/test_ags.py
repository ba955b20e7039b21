"""Scores delivered over loopback to a strict AGS peer: line items from the launch, found across pages, created
exactly once, Canvas's refusal of resourceLinkId, the exact score body, tokens, retries, failures, supersession."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import delete, select

from marketplace.store.models import AccessTokenRow, LineItemRow
from tests.grading.conftest import COURSE, Graded
from tests.grading.gradebook_peer import SCOPE_LINEITEM_READ, SCOPE_SCORE, Fault

pytestmark = pytest.mark.manual_delivery
RIGHT = {"q1": "0"}
WRONG = {"q1": "1"}


def take(graded: Graded, user: str, answers: dict[str, str] | None = None, **launch: object) -> str:
    _, token = graded.launch(user, **launch)  # type: ignore[arg-type]
    answered = graded.submit(token, answers or RIGHT)
    assert answered.status_code == 200, answered.text[:400]
    return token


def states(graded: Graded) -> list[str]:
    return [job.state for job in graded.jobs()]


def test_the_line_item_named_in_a_moodle_launch_is_used_with_its_query_kept(graded: Graded) -> None:
    gradebook = graded.gradebook
    gradebook.style = "moodle"
    item = gradebook.add_line_item(COURSE, "Leaf quiz", 2.0)
    take(graded, "ada", ags=gradebook.ags_claim(COURSE, lineitem=item), product="moodle")
    graded.deliver()
    assert states(graded) == ["sent"]
    assert gradebook.problems == []
    assert gradebook.creations == [] and [score["_lineitem"] for score in gradebook.scores] == [item]
    assert "https://canvas.instructure.com/lti/submission" not in gradebook.scores[0]  # Canvas only
    with graded.env.sessions() as session:
        remembered = session.scalars(select(LineItemRow)).one()
        assert remembered.url == gradebook.lineitem_url(item) and remembered.source == "launch"


def test_the_line_item_is_found_by_resource_link_on_a_later_page(graded: Graded) -> None:
    gradebook = graded.gradebook
    for number in range(5):
        gradebook.add_line_item(COURSE, f"Other {number}", 10.0, resource_link_id=f"other-{number}")
    mine = gradebook.add_line_item(COURSE, "Leaf quiz", 2.0, resource_link_id="link-1")
    gradebook.page_size = 1  # the platform ignores the filter here, so every page is read
    original = gradebook.line_items_endpoint

    async def unfiltered(request):  # type: ignore[no-untyped-def]
        request.scope["query_string"] = b"&".join(
            part for part in request.scope["query_string"].split(b"&") if not part.startswith(b"resource_link_id"))
        return await original(request)

    gradebook.line_items_endpoint = unfiltered  # type: ignore[method-assign]
    graded.env.peer.services = gradebook.app()
    take(graded, "ada")
    graded.deliver()
    assert states(graded) == ["sent"] and gradebook.problems == []
    assert gradebook.creations == [] and gradebook.scores[0]["_lineitem"] == mine
    assert sum(1 for kind, _ in gradebook.calls if kind == "list") >= 6  # followed every next link


def test_a_line_item_created_without_a_link_is_found_again_by_our_tag(graded: Graded) -> None:
    gradebook = graded.gradebook
    tagged = gradebook.add_line_item(COURSE, "Leaf quiz", 2.0, resource_id="leaf-quiz", tag="lti-marketplace:link-1")
    take(graded, "ada")
    graded.deliver()
    assert gradebook.creations == [] and gradebook.scores[0]["_lineitem"] == tagged


def test_two_first_attempts_and_two_workers_create_one_line_item(graded: Graded) -> None:
    gradebook = graded.gradebook
    for user in ("ada", "bob", "cy"):
        take(graded, user)
    graded.deliver(workers=2)
    assert states(graded) == ["sent", "sent", "sent"]
    assert len(gradebook.creations) == 1 and len(gradebook.line_items) == 1
    assert {score["userId"] for score in gradebook.scores} == {"ada", "bob", "cy"}
    assert len(gradebook.scores) == 3  # each score once, although two workers ran
    assert len(gradebook.token_requests) == 1  # the second worker waited for the first one's token
    assert gradebook.problems == []


def test_canvas_refusing_resource_link_id_creates_without_it_and_finds_it_by_tag(graded: Graded) -> None:
    gradebook = graded.gradebook
    gradebook.links_with_assignment = set()  # an editor embed or module link: no assignment behind it
    take(graded, "ada")
    graded.deliver()
    assert states(graded) == ["sent"]
    assert [("resourceLinkId" in body) for body in gradebook.creations] == [True, False]
    [item] = gradebook.line_items.values()
    assert item.tag == "lti-marketplace:link-1" and item.resource_link_id is None
    # Another process that remembers nothing finds the column by its tag, and creates no second one.
    with graded.env.sessions() as session:
        session.execute(delete(LineItemRow))
        session.commit()
    take(graded, "bob")
    graded.deliver()
    assert len(gradebook.line_items) == 1 and len(gradebook.creations) == 2
    assert [score["_lineitem"] for score in gradebook.scores] == [item.id, item.id]


def test_the_score_body_is_exactly_what_ags_and_canvas_want(graded: Graded) -> None:
    gradebook = graded.gradebook
    take(graded, "ada", WRONG)
    take(graded, "ada", RIGHT)
    graded.deliver()
    first, second = gradebook.scores
    assert gradebook.problems == []
    assert first["scoreGiven"] == 0.0 and second["scoreGiven"] == 2.0 and first["scoreMaximum"] == 2.0
    assert first["activityProgress"] == "Completed" and first["gradingProgress"] == "FullyGraded"
    assert first["timestamp"] < second["timestamp"]
    extension = second["https://canvas.instructure.com/lti/submission"]
    assert extension == {"new_submission": True, "submitted_at": second["submission"]["submittedAt"],
                         "prioritize_non_tool_grade": True}


def test_the_policy_decides_the_score_sent(graded: Graded) -> None:
    gradebook = graded.gradebook
    for answers in (RIGHT, WRONG):
        take(graded, "ada", answers, custom={"grade_policy": "best"})
        take(graded, "bob", answers, custom={"grade_policy": "latest"})
    graded.deliver()
    assert [score["scoreGiven"] for score in gradebook.scores_for("ada")] == [2.0, 2.0]
    assert [score["scoreGiven"] for score in gradebook.scores_for("bob")] == [2.0, 0.0]


def test_one_token_serves_every_score_and_a_401_renews_it_once(graded: Graded) -> None:
    gradebook = graded.gradebook
    for user in ("ada", "bob", "cy"):
        take(graded, user)
    graded.deliver()
    assert len(gradebook.token_requests) == 1
    with graded.env.sessions() as session:
        stored = session.scalars(select(AccessTokenRow)).one()
        assert stored.token_encrypted and list(gradebook.granted)[0] not in stored.token_encrypted
    gradebook.revoked.update(gradebook.granted)  # the platform forgets every token it gave
    take(graded, "ada", WRONG)
    graded.deliver()
    assert states(graded) == ["sent"] * 4
    assert len(gradebook.token_requests) == 2  # renewed once, shared again


@pytest.mark.parametrize(("status", "body"), [
    (429, {"errors": {"message": "Too many requests"}}),
    (503, "Service Unavailable"),
    (403, {"errors": [{"message": "403 Forbidden (Rate Limit Exceeded)"}]}),
])
def test_throttling_and_outages_are_retried_after_retry_after(graded: Graded, status: int, body: object) -> None:
    gradebook = graded.gradebook
    gradebook.faults.append(Fault("score", status, body, headers={"Retry-After": "2"}))
    take(graded, "ada")
    started = time.monotonic()
    graded.deliver()
    assert states(graded) == ["sent"]
    assert time.monotonic() - started >= 2.0  # Retry-After honoured (the backoff alone waits at most 1 s)
    assert gradebook.score_calls == 2 and len(gradebook.scores) == 1


def test_a_timeout_is_retried(graded: Graded) -> None:
    gradebook = graded.gradebook
    gradebook.faults.append(Fault("score", 0, delay=1.5))  # longer than the client waits
    take(graded, "ada")
    graded.deliver(timeout=httpx.Timeout(0.5), request_timeout=0.5)
    assert states(graded) == ["sent"]
    assert gradebook.score_calls == 2


def test_a_platform_refusal_fails_the_job_with_its_own_words_and_retry_resends_it(graded: Graded) -> None:
    gradebook = graded.gradebook
    refusal = {"errors": {"type": "unprocessable_entity", "message": "User not found in course or is not a student"}}
    gradebook.faults.append(Fault("score", 422, refusal))
    take(graded, "ada")
    graded.deliver()
    [job] = graded.jobs()
    assert job.state == "failed" and job.last_status == 422
    assert "User not found in course or is not a student" in (job.last_message or "")
    # The instructor sees it in the grade view and presses Retry.
    _, teacher = graded.launch("teacher", role="instructor")
    view = graded.grades(teacher)
    assert "Failed" in view.text and "User not found in course or is not a student" in view.text
    retried = graded.env.browser.post(graded.env.tool_url + "/lti/grades/retry", data={"job": str(job.id)},
                                      headers={"X-Launch-Token": teacher, "HX-Request": "true"})
    assert retried.status_code == 200 and "queued again" in retried.text
    graded.deliver()
    assert states(graded) == ["sent"] and len(gradebook.scores) == 1
    again = graded.env.browser.post(graded.env.tool_url + "/lti/grades/retry", data={"job": str(job.id)},
                                    headers={"X-Launch-Token": teacher, "HX-Request": "true"})
    assert again.status_code == 409 and "not failed" in again.text


def test_a_newer_score_already_in_the_gradebook_supersedes_the_job(graded: Graded) -> None:
    from datetime import UTC, datetime

    gradebook = graded.gradebook
    item = gradebook.add_line_item(COURSE, "Leaf quiz", 2.0, resource_link_id="link-1")
    gradebook.results[(item, "ada")] = {"score": 1.0, "maximum": 2.0, "timestamp": datetime(2099, 1, 1, tzinfo=UTC)}
    take(graded, "ada")
    graded.deliver()
    [job] = graded.jobs()
    assert job.state == "superseded" and "before last updated" in (job.last_message or "")


def test_scores_of_one_learner_arrive_in_attempt_order(graded: Graded) -> None:
    gradebook = graded.gradebook
    _, token = graded.launch("ada")
    for answers in (RIGHT, WRONG, RIGHT, WRONG):
        assert graded.submit(token, answers).status_code == 200
    graded.deliver(workers=2)
    arrived = gradebook.scores_for("ada")
    assert [score["scoreGiven"] for score in arrived] == [2.0, 2.0, 2.0, 2.0]  # best of the attempts so far
    stamps = [score["timestamp"] for score in arrived]
    assert stamps == sorted(stamps) and len(set(stamps)) == 4


def test_without_ags_the_learner_still_gets_a_score_and_the_grade_view_says_why(graded: Graded) -> None:
    _, token = graded.launch("ada", ags=False)
    answer = graded.submit(token, RIGHT)
    assert "Score: 2 / 2" in answer.text and "did not offer grade services" in answer.text
    assert graded.jobs() == []
    _, teacher = graded.launch("teacher", role="instructor", ags=False)
    view = graded.grades(teacher)
    assert "Not sent" in view.text and "did not offer grade services" in view.text


def test_without_the_score_scope_nothing_is_queued(graded: Graded) -> None:
    claim = graded.gradebook.ags_claim(COURSE, scopes=[SCOPE_LINEITEM_READ])
    _, token = graded.launch("ada", ags=claim)
    answer = graded.submit(token, RIGHT)
    assert "permission to post scores" in answer.text and graded.jobs() == []


def test_without_permission_to_create_a_missing_column_the_job_fails_clearly(graded: Graded) -> None:
    claim = graded.gradebook.ags_claim(COURSE, scopes=[SCOPE_LINEITEM_READ, SCOPE_SCORE])
    take(graded, "ada", ags=claim)
    graded.deliver()
    [job] = graded.jobs()
    assert job.state == "failed" and "permission to create one" in (job.last_message or "")
