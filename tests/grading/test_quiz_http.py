"""Taking a quiz over HTTP in a resource launch, and the instructor's preview and grade view (roster from NRPS
across pages, states, gradebook read-back, CSV). The app's own worker delivers here, as in production."""

from __future__ import annotations

import csv
import io

from sqlalchemy import delete, func, select

from marketplace.store.models import QuizAttemptRow, ResourceRow
from tests.grading.conftest import HEADER, Graded, wait_for

RIGHT = {"q1": "0"}


def attempts(graded: Graded) -> int:
    with graded.env.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(QuizAttemptRow)) or 0)


def test_the_server_grades_and_ignores_a_score_sent_by_the_browser(graded: Graded) -> None:
    _, token = graded.launch("ada")
    answer = graded.submit(token, {"q1": "1", "score": "100", "scoreGiven": "2", "max_score": "2"})
    assert answer.status_code == 200 and "Score: 0 / 2" in answer.text
    with graded.env.sessions() as session:
        row = session.scalars(select(QuizAttemptRow)).one()
        assert (row.score, row.max_score, row.answers, row.user_sub, row.resource_link_id) == (
            0.0, 2.0, {"1": [1]}, "ada", "link-1")
        assert row.started_at <= row.submitted_at
    wait_for(lambda: [s["scoreGiven"] for s in graded.gradebook.scores] == [0.0], what="the score of 0")


def test_unanswered_questions_get_a_sentence_and_store_nothing(graded: Graded) -> None:
    _, token = graded.launch("ada")
    answer = graded.submit(token, {})
    assert answer.status_code == 422 and "Answer every question" in answer.text and "question 1" in answer.text
    assert "Score:" not in answer.text and attempts(graded) == 0


def test_a_plain_form_post_without_htmx_works_too(graded: Graded) -> None:
    _, token = graded.launch("ada")
    answer = graded.submit(token, RIGHT, htmx=False)
    assert answer.status_code == 200 and "<html" in answer.text and "Score: 2 / 2" in answer.text
    assert "explanation" not in answer.text or "Your result" in answer.text


def test_attempts_are_limited_by_the_items_custom_value(graded: Graded) -> None:
    _, token = graded.launch("ada", custom={"attempts_allowed": "2"})
    assert "Attempts left: 2" in graded.launch("ada", custom={"attempts_allowed": "2"})[0]
    assert graded.submit(token, RIGHT).status_code == 200
    second = graded.submit(token, RIGHT)
    assert "You have no attempts left." in second.text and "Take the quiz again" not in second.text
    third = graded.submit(token, RIGHT)
    assert third.status_code == 409 and "used all 2 attempts" in third.text
    assert attempts(graded) == 2
    page, _ = graded.launch("ada", custom={"attempts_allowed": "2"})
    assert "Submit answers" not in page and "You have used all 2 attempts" in page


def test_a_quiz_removed_from_the_catalog_keeps_earlier_scores(graded: Graded) -> None:
    _, token = graded.launch("ada")
    graded.submit(token, RIGHT)
    with graded.env.sessions() as session:
        session.execute(delete(ResourceRow).where(ResourceRow.id == "leaf-quiz"))
        session.commit()
    again = graded.submit(token, RIGHT)
    assert again.status_code == 404 and "no longer in the catalog" in again.text
    assert "scores already earned are kept" in again.text and attempts(graded) == 1


def test_the_instructor_sees_the_key_and_submits_nothing(graded: Graded) -> None:
    page, token = graded.launch("teacher", role="instructor")
    assert "Instructor preview" in page and "(correct answer)" in page and "Open the grade view" in page
    assert "Submit answers" not in page
    refused = graded.submit(token, RIGHT)
    assert refused.status_code == 403 and "Only learners submit answers" in refused.text
    assert attempts(graded) == 0


def test_a_learner_cannot_open_the_grade_view(graded: Graded) -> None:
    _, token = graded.launch("ada")
    view = graded.grades(token)
    assert view.status_code == 403 and "Only instructors" in view.text


def test_the_grade_view_lists_the_whole_roster_with_states_and_the_gradebook_value(graded: Graded) -> None:
    gradebook = graded.gradebook
    gradebook.page_size = 2  # 4 members: two pages of Names and Roles
    _, ada = graded.launch("ada")
    graded.submit(ada, {"q1": "1"})
    graded.submit(ada, RIGHT)
    wait_for(lambda: len(gradebook.scores) == 2, what="ada's scores")
    _, bob = graded.launch("bob")
    graded.submit(bob, RIGHT)
    wait_for(lambda: len(gradebook.scores) == 3, what="bob's score")
    # A teacher typed another grade for bob in the gradebook.
    [item] = gradebook.line_items
    gradebook.results[(item, "bob")]["score"] = 1.0
    _, teacher = graded.launch("teacher", role="instructor")
    view = graded.grades(teacher)
    assert view.status_code == 200, view.text[:300]
    text = view.text
    for name in ("Ada Lovelace", "Bob Brown", "Cy Young"):
        assert name in text
    assert "Tess Teacher" not in text  # instructors are not graded
    assert "Sent" in text and "No attempt" in text and "differs from this tool" in text
    assert gradebook.problems == []
    exported = graded.env.browser.post(graded.env.tool_url + "/lti/grades.csv", data={"launch_token": teacher})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = {row["Learner"]: row for row in csv.DictReader(io.StringIO(exported.text))}
    assert rows["Ada Lovelace"]["Scores"] == "0 2" and rows["Ada Lovelace"]["Score sent"] == "2"
    assert rows["Ada Lovelace"]["Sync state"] == "Sent" and rows["Ada Lovelace"]["Differs from gradebook"] == "no"
    assert rows["Bob Brown"]["Gradebook value"] == "1" and rows["Bob Brown"]["Differs from gradebook"] == "yes"
    assert rows["Cy Young"]["Sync state"] == "No attempt"


def test_the_csv_keeps_spreadsheets_from_running_names_as_formulas(graded: Graded) -> None:
    graded.gradebook.add_members("course-1", ("mallory", "=HYPERLINK(\"http://x\")", "learner"))
    _, teacher = graded.launch("teacher", role="instructor")
    exported = graded.env.browser.post(graded.env.tool_url + "/lti/grades.csv", data={"launch_token": teacher})
    assert "'=HYPERLINK" in exported.text


def test_the_grade_view_needs_a_launch(graded: Graded) -> None:
    anonymous = graded.env.browser.get(graded.env.tool_url + "/lti/grades", headers={HEADER: "forged"})
    assert anonymous.status_code == 401 and "Traceback" not in anonymous.text
