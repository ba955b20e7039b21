"""Quizzes in a real Chromium, by accessible names only: a learner answers (mouse and keyboard), an instructor
previews the key and works the grade view, axe-core finds no violations, and an 800 x 600 LMS modal still works.

Every launch runs in the browser itself (tool login → platform /auth → auto-posted launch → /lti/app); the
platform peer also plays the AGS/NRPS gradebook, and the app's own grade worker delivers the scores.
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import func, select

from marketplace.catalog.sync import load_content, sync_index
from marketplace.store.models import QuizAttemptRow
from marketplace.web.services import services
from tests.grading.conftest import AGS_CLAIM, COURSE, CUSTOM, NRPS_CLAIM, TOOL_PLATFORM, Graded, wait_for
from tests.grading.gradebook_peer import Fault
from tests.lti.peer import INSTRUCTOR, LEARNER
from tests.lti.test_browser_launch import ARTIFACTS, TIMEOUT_MS

QUIZ_ID = "leaf-light-quiz"
TITLE = "Leaves and light"
GAS = "Which gas do leaves take in from the air?"
COLOURS = "Which colours of light does chlorophyll absorb most?"
GAS_OPTIONS = ["Oxygen", "Carbon dioxide", "Nitrogen"]
COLOUR_OPTIONS = ["Red", "Green", "Blue"]
QUIZ_TOML = f"""id = "{QUIZ_ID}"
title = "{TITLE}"
description = "Two questions on what leaves take in and which light they use."
subject = "biology"
grade_levels = ["6-8"]
type = "quiz"
language = "en"
keywords = ["leaf", "light"]
thumbnail = "thumbnails/biology.svg"
[author]
name = "Editors"
[license]
id = "CC-BY-4.0"
attribution = "{TITLE} by the Editors, LTI Marketplace, CC BY 4.0"
[payload]
max_score = 3
[[payload.questions]]
prompt = "{GAS}"
options = {GAS_OPTIONS!r}
answer = 1
points = 1
[[payload.questions]]
prompt = "{COLOURS}"
options = {COLOUR_OPTIONS!r}
answer = [0, 2]
points = 2
explanation = "Chlorophyll absorbs red and blue and reflects green."
""".replace("'", '"')
PLATFORM_MESSAGE = "User not found in course or is not a student"
SENT_AT = re.compile(r"Sent \d{4}-\d\d-\d\d \d\d:\d\d UTC")


@pytest.fixture
def quiz(graded: Graded) -> Graded:
    """The graded environment with a two-question quiz (the second with two right answers) in its catalog."""
    env = graded.env
    (env.settings.content_dir / "resources" / "biology" / f"{QUIZ_ID}.toml").write_text(QUIZ_TOML, encoding="utf-8")
    with env.sessions() as session:
        load_content(session, env.settings.content_dir)
        session.commit()
        sync_index(session, env.settings.index_dir, workers=1)
    app: Any = env.app
    services(app).catalog.refresh()
    return graded


def open_quiz(graded: Graded, page: Page, user: str, *, role: str = "learner",
              custom: dict[str, str] | None = None) -> None:
    """Launch the quiz link in the browser as `user`, with the AGS and NRPS claims present."""
    peer = graded.env.peer
    peer.user_id = user
    peer.roles = [LEARNER if role == "learner" else INSTRUCTOR]
    peer.resource_link_id = "link-1"
    peer.message_type = "LtiResourceLinkRequest"
    peer.extra_claims = {CUSTOM: {"resource_id": QUIZ_ID, **(custom or {})},
                         TOOL_PLATFORM: {"product_family_code": "canvas", "guid": "loopback"},
                         AGS_CLAIM: graded.gradebook.ags_claim(COURSE),
                         NRPS_CLAIM: graded.gradebook.nrps_claim(COURSE)}
    page.goto(peer.login_url())  # login → platform auth → auto-posted launch → the quiz page
    expect(page.get_by_role("heading", name=TITLE, level=1)).to_be_visible()


def submit_by_http(graded: Graded, user: str, answers: dict[str, list[str] | str]) -> None:
    """A learner's attempt without a browser (for the instructor's tests)."""
    _, token = graded.launch(user, resource_id=QUIZ_ID)
    answer = graded.submit(token, answers)
    assert answer.status_code == 200, answer.text[:500]


def attempts_stored(graded: Graded) -> int:
    with graded.env.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(QuizAttemptRow)) or 0)


def question(page: Page, prompt: str) -> Locator:
    return page.get_by_role("group", name=prompt, exact=True)


def no_axe_violations(page: Page) -> None:
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def tab_to(page: Page, target: Locator, limit: int = 40) -> None:
    """Press Tab until `target` has the focus (it must be reachable with the keyboard)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("element => element === document.activeElement"):
            return
    raise AssertionError(f"{target} was not reached with {limit} presses of Tab")


def focused(target: Locator) -> bool:
    return bool(target.evaluate("element => element === document.activeElement"))


def learner_row(page: Page, name: str) -> Locator:
    return page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=name, exact=True))


def no_horizontal_overflow(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


def test_a_learner_answers_by_accessible_names_and_the_gradebook_gets_the_score(quiz: Graded, page: Page) -> None:
    open_quiz(quiz, page, "ada")
    gas, colours = question(page, GAS), question(page, COLOURS)
    # Each question is a group named by its prompt; one radio per option (checkboxes for several right answers).
    expect(gas.get_by_role("radio")).to_have_count(3)
    expect(gas.get_by_role("checkbox")).to_have_count(0)
    for option in GAS_OPTIONS:
        expect(gas.get_by_role("radio", name=option, exact=True)).to_be_visible()
    expect(colours.get_by_role("checkbox")).to_have_count(3)
    expect(colours.get_by_role("radio")).to_have_count(0)
    for option in COLOUR_OPTIONS:
        expect(colours.get_by_role("checkbox", name=option, exact=True)).to_be_visible()
    submit = page.get_by_role("button", name="Submit answers", exact=True)
    expect(submit).to_have_count(1)
    shot(page, "quiz-learner-form")
    no_axe_violations(page)

    # One question unanswered: a clear message naming it, no score, nothing stored or sent.
    gas.get_by_role("radio", name="Carbon dioxide").check()
    submit.click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("question 2 has no answer yet")
    expect(page.get_by_text(re.compile(r"Score: "))).to_have_count(0)
    expect(gas.get_by_role("radio", name="Carbon dioxide")).to_be_checked()  # the answer given is kept
    assert attempts_stored(quiz) == 0 and quiz.job_states() == []
    no_axe_violations(page)

    # Everything answered (the second question half right): the score shows as text and reaches the gradebook.
    colours.get_by_role("checkbox", name="Red").check()
    submit.click()
    expect(page.get_by_text("Score: 2 / 3", exact=True)).to_be_visible()
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(page.get_by_role("region", name="Your result")).to_contain_text("partly right")
    shot(page, "quiz-learner-result")
    no_axe_violations(page)
    wait_for(lambda: [score["scoreGiven"] for score in quiz.gradebook.scores_for("ada")] == [2.0],
             what="the gradebook to receive 2 / 3")
    [score] = quiz.gradebook.scores_for("ada")
    assert score["scoreMaximum"] == 3.0 and quiz.gradebook.problems == []
    assert attempts_stored(quiz) == 1

    # Unlimited attempts: the form comes back, empty, and a better attempt is sent (best score counts).
    page.get_by_role("button", name="Take the quiz again").click()
    expect(submit).to_be_visible()
    expect(question(page, GAS).get_by_role("radio", name="Carbon dioxide")).not_to_be_checked()
    expect(page.get_by_role("region", name="Your attempts")).to_contain_text("2 / 3")
    question(page, GAS).get_by_role("radio", name="Carbon dioxide").check()
    question(page, COLOURS).get_by_role("checkbox", name="Red").check()
    question(page, COLOURS).get_by_role("checkbox", name="Blue").check()
    submit.click()
    expect(page.get_by_text("Score: 3 / 3", exact=True)).to_be_visible()
    wait_for(lambda: [score["scoreGiven"] for score in quiz.gradebook.scores_for("ada")] == [2.0, 3.0],
             what="the gradebook to receive 3 / 3")
    assert attempts_stored(quiz) == 2


def test_with_one_attempt_allowed_the_form_is_gone_after_it(quiz: Graded, page: Page) -> None:
    open_quiz(quiz, page, "ada", custom={"attempts_allowed": "1"})
    expect(page.get_by_text(re.compile(r"Attempts left: 1\b"))).to_be_visible()
    question(page, GAS).get_by_role("radio", name="Oxygen").check()
    question(page, COLOURS).get_by_role("checkbox", name="Blue").check()
    page.get_by_role("button", name="Submit answers").click()
    expect(page.get_by_text("Score: 1 / 3", exact=True)).to_be_visible()
    expect(page.get_by_text("You have no attempts left.")).to_be_visible()
    expect(page.get_by_role("button", name="Take the quiz again")).to_have_count(0)
    expect(page.get_by_role("button", name="Submit answers")).to_have_count(0)
    wait_for(lambda: [score["scoreGiven"] for score in quiz.gradebook.scores_for("ada")] == [1.0],
             what="the gradebook to receive 1 / 3")
    # Launched again from the course: still no form, the attempt listed.
    open_quiz(quiz, page, "ada", custom={"attempts_allowed": "1"})
    expect(page.get_by_role("button", name="Submit answers")).to_have_count(0)
    expect(page.get_by_role("radio")).to_have_count(0)
    expect(page.get_by_text(re.compile(r"You have used your only attempt"))).to_be_visible()
    expect(page.get_by_role("region", name="Your attempts")).to_contain_text("1 / 3")
    no_axe_violations(page)
    assert attempts_stored(quiz) == 1


def test_the_learner_answers_and_submits_with_the_keyboard_only(quiz: Graded, page: Page) -> None:
    open_quiz(quiz, page, "ada")
    gas, colours = question(page, GAS), question(page, COLOURS)
    tab_to(page, gas.get_by_role("radio", name="Oxygen"))  # Tab enters the radio group at its first option
    page.keyboard.press("ArrowDown")  # arrows move within a radio group, and choose
    expect(gas.get_by_role("radio", name="Carbon dioxide")).to_be_checked()
    page.keyboard.press("Tab")  # leaves the radio group for the first checkbox
    red = colours.get_by_role("checkbox", name="Red")
    assert focused(red)
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    blue = colours.get_by_role("checkbox", name="Blue")
    assert focused(blue)
    page.keyboard.press("Space")
    expect(red).to_be_checked()
    expect(blue).to_be_checked()
    expect(colours.get_by_role("checkbox", name="Green")).not_to_be_checked()
    tab_to(page, page.get_by_role("button", name="Submit answers"))
    page.keyboard.press("Enter")
    expect(page.get_by_text("Score: 3 / 3", exact=True)).to_be_visible()
    # And on to another attempt, still by keyboard.
    tab_to(page, page.get_by_role("button", name="Take the quiz again"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Submit answers")).to_be_visible()
    wait_for(lambda: [score["scoreGiven"] for score in quiz.gradebook.scores_for("ada")] == [3.0],
             what="the gradebook to receive 3 / 3")


def test_the_instructor_previews_the_key_and_retries_a_failed_grade(quiz: Graded, page: Page,
                                                                    tmp_path: Path) -> None:
    gradebook = quiz.gradebook
    submit_by_http(quiz, "ada", {"q1": "1", "q2": ["0", "2"]})
    wait_for(lambda: quiz.job_states() == [("ada", "sent")], what="Ada's score to be sent")
    # The platform refuses Bob's score until told otherwise.
    gradebook.faults.append(Fault("score", 422, {"errors": {"message": PLATFORM_MESSAGE}}, count=1000))
    submit_by_http(quiz, "bob", {"q1": "0", "q2": "0"})  # wrong, then half right: 1 / 3
    wait_for(lambda: quiz.job_states() == [("ada", "sent"), ("bob", "failed")], what="Bob's score to fail")
    attempts_before = attempts_stored(quiz)

    open_quiz(quiz, page, "teacher", role="instructor")
    expect(page.get_by_role("heading", name="Instructor preview")).to_be_visible()
    key = page.locator(".answer-key")
    for right in ("Carbon dioxide", "Red", "Blue"):
        expect(key.get_by_role("listitem").filter(has_text=re.compile(rf"^{right}"))).to_contain_text(
            "(correct answer)")
    for wrong in ("Oxygen", "Nitrogen", "Green"):
        expect(key.get_by_role("listitem").filter(has_text=re.compile(rf"^{wrong}"))).not_to_contain_text(
            "correct answer")
    expect(page.get_by_role("button", name="Submit answers")).to_have_count(0)
    expect(page.get_by_role("radio")).to_have_count(0)
    expect(page.get_by_role("checkbox")).to_have_count(0)
    shot(page, "quiz-instructor-preview")
    no_axe_violations(page)

    page.get_by_role("button", name="Open the grade view").click()
    table = page.get_by_role("table")
    expect(table).to_be_visible()
    # The roster comes from Names and Roles: learners who took no attempt are listed, the instructor is not.
    expect(table.get_by_role("rowheader")).to_have_text(["Ada Lovelace", "Bob Brown", "Cy Young"])
    ada, bob, cy = (learner_row(page, name) for name in ("Ada Lovelace", "Bob Brown", "Cy Young"))
    expect(ada).to_contain_text(SENT_AT)
    expect(ada.locator("time")).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT"))
    expect(ada).to_contain_text("3 / 3")
    expect(bob).to_contain_text("Failed")
    expect(bob).to_contain_text(PLATFORM_MESSAGE)
    expect(cy).to_contain_text("No attempt")
    retry = bob.get_by_role("button", name="Retry sending the grade of Bob Brown")
    expect(retry).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("^Retry"))).to_have_count(1)
    shot(page, "quiz-grade-view")
    no_axe_violations(page)

    # The CSV download says the same.
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    csv_path = tmp_path / "grades.csv"
    download.value.save_as(csv_path)
    csv_text = csv_path.read_text(encoding="utf-8")
    assert "Bob Brown" in csv_text and "Failed" in csv_text and PLATFORM_MESSAGE in csv_text

    # Retry while the platform still refuses: queued again, tried again, failed again (the view refreshes itself).
    calls = gradebook.score_calls
    retry.click()
    expect(page.get_by_role("status")).to_have_text("The grade is queued again; this view shows its state.")
    wait_for(lambda: gradebook.score_calls > calls and quiz.job_states()[1] == ("bob", "failed"),
             what="the retried score to be refused again")
    expect(bob).to_contain_text("Failed", timeout=TIMEOUT_MS)
    expect(bob).to_contain_text(PLATFORM_MESSAGE)

    # The platform fixed: Retry sends it.
    gradebook.faults.clear()
    bob.get_by_role("button", name="Retry sending the grade of Bob Brown").click()
    expect(bob).to_contain_text(SENT_AT, timeout=TIMEOUT_MS)
    expect(bob.get_by_role("button")).to_have_count(0)
    assert quiz.job_states() == [("ada", "sent"), ("bob", "sent")]
    assert [score["scoreGiven"] for score in gradebook.scores_for("bob")] == [1.0]
    assert attempts_stored(quiz) == attempts_before  # the instructor submitted nothing
    assert gradebook.problems == []


def add_long_named_member(graded: Graded) -> None:
    """A member the platform names by a long address only (no name): the widest cell a roster can bring."""
    graded.gradebook.members[COURSE].append({
        "user_id": "dee", "email": "dorothea.featherstonehaugh-wolfeschlegelsteinhausen@students.example.edu",
        "status": "Active", "roles": [LEARNER]})


def open_grade_view_in_a_modal(graded: Graded, page: Page) -> Locator:
    """The instructor's grade view in an 800 x 600 LMS modal; returns the table's scrolling wrapper."""
    open_quiz(graded, page, "teacher", role="instructor")
    page.get_by_role("button", name="Open the grade view").click()
    expect(page.get_by_role("rowheader", name=re.compile("dorothea"))).to_be_visible()
    return page.locator(".table-scroll")


def test_in_an_800_by_600_modal_the_quiz_and_the_grade_view_fit(quiz: Graded, page: Page) -> None:
    page.set_viewport_size({"width": 800, "height": 600})
    add_long_named_member(quiz)

    open_quiz(quiz, page, "ada")
    assert no_horizontal_overflow(page)
    submit = page.get_by_role("button", name="Submit answers")
    question(page, GAS).get_by_role("radio", name="Carbon dioxide").check()
    question(page, COLOURS).get_by_role("checkbox", name="Red").check()
    tab_to(page, submit)
    expect(submit).to_be_in_viewport()
    box = submit.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 800
    shot(page, "quiz-800x600-form")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Score: 2 / 3", exact=True)).to_be_visible()
    assert no_horizontal_overflow(page)
    wait_for(lambda: quiz.job_states() == [("ada", "sent")], what="Ada's score to be sent")

    wrapper = open_grade_view_in_a_modal(quiz, page)
    expect(learner_row(page, "Ada Lovelace")).to_contain_text(SENT_AT)
    shot(page, "quiz-800x600-grade-view")
    assert no_horizontal_overflow(page)
    # The table is wider than the modal: its wrapper scrolls, not the page.
    sizes = wrapper.evaluate("""element => ({scroll: element.scrollWidth, client: element.clientWidth,
        table: element.querySelector("table").getBoundingClientRect().width,
        overflow: getComputedStyle(element).overflowX})""")
    assert sizes["table"] > sizes["client"] and sizes["scroll"] > sizes["client"], sizes
    assert sizes["overflow"] in {"auto", "scroll"}, sizes
    wrapper.evaluate("element => { element.scrollLeft = element.scrollWidth; }")
    assert wrapper.evaluate("element => element.scrollLeft") > 0
    assert no_horizontal_overflow(page)


def test_in_an_800_by_600_modal_the_scrolling_grade_table_works_with_the_keyboard(quiz: Graded, page: Page) -> None:
    page.set_viewport_size({"width": 800, "height": 600})
    add_long_named_member(quiz)
    wrapper = open_grade_view_in_a_modal(quiz, page)
    assert wrapper.evaluate("element => element.scrollWidth > element.clientWidth")
    no_axe_violations(page)
    tab_to(page, wrapper)
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => document.querySelector('.table-scroll').scrollLeft > 0", timeout=3000)
