"""A learner's quiz score travels to the platform's gradebook: line item found or created, score exact."""

from __future__ import annotations

from tests.grading.conftest import COURSE, Graded, wait_for


def test_a_score_reaches_the_gradebook_through_a_created_line_item(graded: Graded) -> None:
    page, token = graded.launch("ada")
    assert "Submit answers" in page
    answer = graded.submit(token, {"q1": "0"})
    assert answer.status_code == 200, answer.text[:500]
    assert "Score: 2 / 2" in answer.text
    wait_for(lambda: graded.job_states() == [("ada", "sent")], what="the score to be sent")
    gradebook = graded.gradebook
    assert gradebook.problems == []
    assert len(gradebook.line_items) == 1 and len(gradebook.creations) == 1
    created = gradebook.creations[0]
    assert created == {"scoreMaximum": 2.0, "label": "Leaf quiz resource", "resourceId": "leaf-quiz",
                       "tag": "lti-marketplace:link-1", "resourceLinkId": "link-1"}
    [score] = gradebook.scores
    assert score["userId"] == "ada" and score["scoreGiven"] == 2.0 and score["scoreMaximum"] == 2.0
    assert len(gradebook.token_requests) == 1
    assert COURSE in gradebook.lineitems_url(COURSE)
