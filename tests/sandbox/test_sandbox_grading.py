"""Graded quizzes in the sandbox LMS: its token endpoint checks the tool's client assertion as Canvas does, and a
quiz placed as an assignment is taken by a student, graded by the tool, delivered by the tool's worker through
AGS and seen in the sandbox's gradebook, and in the teacher's grade view with the roster from Names and Roles."""

from __future__ import annotations

import asyncio
import html
import json
import re
import time
import uuid
from datetime import datetime
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from marketplace.grading.runtime import build_grading
from marketplace.sandbox import canvas, gradebook
from marketplace.sandbox.course import CourseStore
from marketplace.sandbox.registration import CLIENT_ID
from marketplace.store.models import GradeJobRow, PlatformRow
from marketplace.web.services import services
from tests.sandbox.conftest import GRADED_QUIZ_ID, SandboxEnvironment
from tests.sandbox.test_sandbox import open_links

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
COURSE_API = "/sandbox/api/lti/courses/sandbox-course"
SCORE_TYPE = "application/vnd.ims.lis.v1.score+json"
HEADER = "X-Launch-Token"
SAM, LEE, ADA = canvas.STUDENT.sub, canvas.STUDENT_2.sub, canvas.INSTRUCTOR.sub


# -- helpers --------------------------------------------------------------------------------------------------
def tool_key(env: SandboxEnvironment) -> tuple[str, Any]:
    """The tool's active signing key, as its grade worker signs assertions with it."""
    with services(env.app).sessions() as session:
        kid, key = services(env.app).signing_keys.active(session)
        session.commit()
    return kid, key


def assertion(env: SandboxEnvironment, key: Any = None, kid: str | None = None, **changes: Any) -> str:
    """A client assertion signed with the tool's key (or `key`); a change to None leaves the claim out."""
    active_kid, active_key = tool_key(env)
    now = int(time.time())
    claims: dict[str, Any] = {"iss": CLIENT_ID, "sub": CLIENT_ID, "aud": f"{env.url}/sandbox/token", "iat": now,
                              "exp": now + 300, "jti": uuid.uuid4().hex}
    claims.update(changes)
    claims = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode(claims, key or active_key, algorithm="RS256", headers={"kid": kid or active_kid})


def token_request(env: SandboxEnvironment, signed: str, scope: str = " ".join(canvas.AGS_SCOPES),
                  **fields: str) -> httpx.Response:
    form = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": signed, "scope": scope, **fields}
    return env.browser.post(f"{env.url}/sandbox/token", data=form)


def access_token(env: SandboxEnvironment, *scopes: str) -> str:
    answer = token_request(env, assertion(env), " ".join(scopes or (*canvas.AGS_SCOPES, canvas.SCOPE_MEMBERSHIP)))
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


def launch_token(page: str) -> str:
    match = re.search(r'name="launch_token" value="([^"]+)"', page) or re.search(r"hx-headers='([^']+)'", page)
    assert match, page[:800]
    value = html.unescape(match.group(1))
    return value if not value.startswith("{") else str(json.loads(value)[HEADER])


def submit(env: SandboxEnvironment, quiz_page: str, **answers: str | list[str]) -> httpx.Response:
    """Post answers through the tool's quiz form (a plain browser post: the launch token is a form field)."""
    form: dict[str, str | list[str]] = {"launch_token": launch_token(quiz_page), **answers}
    return env.browser.post(env.url + "/lti/quiz/submit", data=form)


def wait_for(condition: Any, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def course_data(env: SandboxEnvironment) -> dict[str, Any]:
    return CourseStore(env.settings.data_dir / "sandbox").snapshot()


def job_states(env: SandboxEnvironment) -> list[tuple[str, str]]:
    with services(env.app).sessions() as session:
        rows = session.scalars(select(GradeJobRow).order_by(GradeJobRow.id))
        return [(row.user_sub, row.state) for row in rows]


def cell_texts(page: str) -> list[list[str]]:
    """The gradebook table's body rows, as the text of each header and data cell."""
    table = page[page.index('<table class="sandbox-gradebook">'):]
    body = table[table.index("<tbody>"):table.index("</tbody>")]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [[" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>",
                                                                                       row, re.S)] for row in rows]


# -- the token endpoint ---------------------------------------------------------------------------------------
def test_the_token_endpoint_accepts_the_tools_own_assertion(sandbox: SandboxEnvironment) -> None:
    assert sandbox.browser.get(sandbox.url + "/sandbox").status_code == 200  # registers the sandbox with the tool
    with services(sandbox.app).sessions() as session:
        platform_id = session.scalars(select(PlatformRow.id).where(PlatformRow.client_id == CLIENT_ID)).one()

    async def fetch() -> tuple[str, int]:
        # The tool's own token client (marketplace.grading.tokens), as its grade worker uses it.
        grading = build_grading(services(sandbox.app).sessions, services(sandbox.app).signing_keys,
                                sandbox.settings.secret_key, allow_loopback=True)
        try:
            return await grading.tokens.get(platform_id, list(canvas.AGS_SCOPES)), grading.tokens.requests
        finally:
            await grading.stop()

    token, requests = asyncio.run(fetch())
    assert requests == 1
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == f"{sandbox.url}/sandbox" and claims["sub"] == CLIENT_ID
    assert set(claims["scopes"].split()) == set(canvas.AGS_SCOPES)
    listed = sandbox.browser.get(f"{sandbox.url}{COURSE_API}/line_items", headers=bearer(token))
    assert listed.status_code == 200 and listed.json() == []
    assert listed.headers["content-type"] == "application/vnd.ims.lis.v2.lineitemcontainer+json"
    # The token is for AGS only: Names and Roles refuses it, as Canvas does.
    roster = sandbox.browser.get(f"{sandbox.url}{COURSE_API}/names_and_roles", headers=bearer(token))
    assert roster.status_code == 401 and roster.json() == {
        "errors": {"type": "unauthorized", "message": "Insufficient permissions"}}


def test_the_token_endpoint_refuses_what_canvas_refuses(sandbox: SandboxEnvironment) -> None:
    now = int(time.time())
    foreign = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    foreign_pem = foreign.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
    kid, _ = tool_key(sandbox)
    token_url = f"{sandbox.url}/sandbox/token"
    refused: list[tuple[str, str, str]] = [
        ("trailing slash in aud", assertion(sandbox, aud=token_url + "/"), f"aud is '{token_url}/'"),
        ("another host's aud", assertion(sandbox, aud="https://canvas.instructure.com/login/oauth2/token"),
         "expected exactly"),
        ("signed with another key", assertion(sandbox, key=foreign_pem, kid=kid), "could not be verified"),
        ("unknown kid", assertion(sandbox, key=foreign_pem, kid="not-a-tool-key"), "could not be verified"),
        ("iat 6 minutes old", assertion(sandbox, iat=now - 360, exp=now + 60), "iat "),
        ("iat 2 minutes ahead", assertion(sandbox, iat=now + 120, exp=now + 400), "iat "),
        ("expired", assertion(sandbox, iat=now - 100, exp=now - 10), "could not be verified"),
        ("no exp", assertion(sandbox, exp=None), "exp None is missing or past"),
        ("iss not the client_id", assertion(sandbox, iss="someone-else"), "iss is 'someone-else'"),
        ("sub not the client_id", assertion(sandbox, sub="someone-else"), "sub is 'someone-else'"),
        ("no jti", assertion(sandbox, jti=None), "jti is missing"),
    ]
    for name, signed, sentence in refused:
        answer = token_request(sandbox, signed)
        assert answer.status_code == 401, (name, answer.text)
        body = answer.json()
        assert set(body) == {"error", "error_description"} and body["error"] == "invalid_client", name
        assert sentence in body["error_description"], (name, body)
        assert answer.headers["cache-control"] == "no-store"

    # A clock a few seconds ahead is fine (Canvas allows 30 s); each assertion is good for one token only.
    reused = assertion(sandbox, iat=now + 10)
    assert token_request(sandbox, reused).status_code == 200
    again = token_request(sandbox, reused)
    assert again.status_code == 401 and "was already used" in again.json()["error_description"]
    # A refused assertion does not use up its jti.
    jti = uuid.uuid4().hex
    assert token_request(sandbox, assertion(sandbox, jti=jti, aud=token_url + "/")).status_code == 401
    assert token_request(sandbox, assertion(sandbox, jti=jti)).status_code == 200

    form_cases = [
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"}, 400,
         "invalid_request"),
        ({"scope": "https://purl.imsglobal.org/spec/lti/scope/noticehandlers"}, 400, "invalid_scope"),
        ({"scope": ""}, 400, "invalid_scope"),
        ({"client_assertion": ""}, 400, "invalid_request"),
    ]
    for change, status, error in form_cases:
        form = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion(sandbox), "scope": canvas.SCOPE_SCORE, **change}
        answer = sandbox.browser.post(token_url, data=form)
        assert (answer.status_code, answer.json()["error"]) == (status, error), (change, answer.text)
    as_json = sandbox.browser.post(token_url, json={"grant_type": "client_credentials"})
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"


# -- the services -------------------------------------------------------------------------------------------------
def test_line_items_are_created_listed_filtered_and_paged(sandbox: SandboxEnvironment) -> None:
    token = access_token(sandbox)
    url = f"{sandbox.url}{COURSE_API}/line_items"
    lineitem_json = {"Content-Type": "application/vnd.ims.lis.v2.lineitem+json"}
    created = []
    for number in range(3):
        answer = sandbox.browser.post(url, headers=bearer(token, **lineitem_json), json={
            "scoreMaximum": 10 * (number + 1), "label": f"Quiz {number}", "resourceId": f"quiz-{number % 2}",
            "tag": "lti-marketplace:x"})
        assert answer.status_code == 201, answer.text
        created.append(answer.json())
    assert created[0]["id"].startswith(url + "/") and created[0]["label"] == "Quiz 0"
    assert created[0]["scoreMaximum"] == 10 and "resourceLinkId" not in created[0]
    one = sandbox.browser.get(created[1]["id"], headers=bearer(token))
    assert one.status_code == 200 and one.json() == created[1]

    # Two per page unless asked otherwise, with the next page in a Link header.
    first = sandbox.browser.get(url, headers=bearer(token))
    assert [item["label"] for item in first.json()] == ["Quiz 0", "Quiz 1"]
    second = sandbox.browser.get(first.links["next"]["url"], headers=bearer(token))
    assert [item["label"] for item in second.json()] == ["Quiz 2"] and "link" not in second.headers
    filtered = sandbox.browser.get(url, params={"resource_id": "quiz-0", "limit": "1"}, headers=bearer(token))
    assert [item["label"] for item in filtered.json()] == ["Quiz 0"]
    following = filtered.links["next"]["url"]
    assert "resource_id=quiz-0" in following and "limit=1" in following and "page=2" in following
    assert [item["label"] for item in sandbox.browser.get(following, headers=bearer(token)).json()] == ["Quiz 2"]
    assert sandbox.browser.get(url, params={"tag": "other"}, headers=bearer(token)).json() == []

    refusals = [
        ({"label": "No maximum"}, 400, "scoreMaximum is required"),
        ({"scoreMaximum": 5}, 400, "label is required"),
        ({"scoreMaximum": 5, "label": "x", "resourceLinkId": "not-a-link"}, 404, "was not found"),
    ]
    for body, status, sentence in refusals:
        answer = sandbox.browser.post(url, headers=bearer(token, **lineitem_json), json=body)
        assert answer.status_code == status and sentence in answer.json()["errors"]["message"], answer.text
    read_only = access_token(sandbox, canvas.SCOPE_LINEITEM_READ)
    denied = sandbox.browser.post(url, headers=bearer(read_only, **lineitem_json), json={"scoreMaximum": 1,
                                                                                         "label": "x"})
    assert denied.status_code == 401 and denied.json()["errors"]["message"] == "Insufficient permissions"
    assert sandbox.browser.get(url).json()["errors"]["message"] == "Missing access token"
    assert sandbox.browser.get(url, headers=bearer("not.a.token")).status_code == 401
    assert sandbox.browser.get(f"{sandbox.url}/sandbox/api/lti/courses/other/line_items",
                               headers=bearer(token)).status_code == 404
    assert sandbox.browser.get(url + "/nope", headers=bearer(token)).status_code == 404


def test_scores_are_checked_as_canvas_checks_them(sandbox: SandboxEnvironment) -> None:
    token = access_token(sandbox)
    created = sandbox.browser.post(f"{sandbox.url}{COURSE_API}/line_items", headers=bearer(token), json={
        "scoreMaximum": 10, "label": "Scaled"}).json()
    scores_url = created["id"] + "/scores"
    score = {"userId": SAM, "scoreGiven": 1.5, "scoreMaximum": 2, "activityProgress": "Completed",
             "gradingProgress": "FullyGraded", "timestamp": "2030-01-01T10:00:00.000002+00:00"}

    def post(body: Any, content_type: str = SCORE_TYPE, with_token: str = token) -> httpx.Response:
        return sandbox.browser.post(scores_url, content=json.dumps(body),
                                    headers=bearer(with_token, **{"Content-Type": content_type}))

    accepted = post(score)
    assert accepted.status_code == 200 and accepted.json() == {"resultUrl": f"{created['id']}/results/{SAM}"}
    refused = [
        ("older timestamp", {**score, "timestamp": "2030-01-01T10:00:00.000001+00:00"}, 400,
         "Provided timestamp of 2030-01-01T10:00:00.000001+00:00 before last updated timestamp of "
         "2030-01-01T10:00:00.000002+00:00"),
        ("the teacher", {**score, "userId": ADA}, 422, "User not found in course or is not a student"),
        ("a stranger", {**score, "userId": "nobody"}, 422, "User not found in course or is not a student"),
        ("no scoreMaximum", {key: value for key, value in score.items() if key != "scoreMaximum"}, 422,
         "ScoreMaximum not supplied when ScoreGiven present."),
        ("no timestamp", {key: value for key, value in score.items() if key != "timestamp"}, 400, "timestamp"),
        ("no userId", {key: value for key, value in score.items() if key != "userId"}, 400, "userId"),
        ("bad progress", {**score, "gradingProgress": "Done"}, 400, "gradingProgress 'Done'"),
        ("bad timestamp", {**score, "timestamp": "yesterday"}, 400, "not a valid timestamp"),
    ]
    for name, body, status, sentence in refused:
        answer = post(body)
        assert answer.status_code == status, (name, answer.text)
        assert sentence in answer.json()["errors"]["message"], (name, answer.text)
    assert post(score, content_type="application/json").status_code == 415
    no_score_scope = access_token(sandbox, canvas.SCOPE_RESULT_READ)
    assert post(score, with_token=no_score_scope).status_code == 401

    # Scaled to the column (1.5 of 2 → 7.5 of 10); a later score that is not graded clears it, as in Canvas.
    results_url = created["id"] + "/results"
    [result] = sandbox.browser.get(results_url, headers=bearer(token)).json()
    assert result == {"id": f"{created['id']}/results/{SAM}", "scoreOf": created["id"], "userId": SAM,
                      "resultScore": 7.5, "resultMaximum": 10}
    pending = {**score, "gradingProgress": "Pending", "timestamp": "2030-01-01T10:00:01+00:00"}
    assert post(pending).status_code == 200
    [cleared] = sandbox.browser.get(results_url, params={"user_id": SAM}, headers=bearer(token)).json()
    assert "resultScore" not in cleared
    assert sandbox.browser.get(results_url, params={"user_id": LEE}, headers=bearer(token)).json() == []
    # Every post is kept for the gradebook page, refused ones with the answer they got.
    kept = gradebook.received(course_data(sandbox))
    assert [entry.status for entry in kept] == [200, 400, 422, 422, 422, 400, 400, 400, 400, 200]
    assert post({"userId": SAM, "padding": "x" * 70_000}).status_code == 413

    # Clearing the course removes its columns (the tool then gets a 404 and looks again); used jtis stay used.
    used = assertion(sandbox)
    assert token_request(sandbox, used).status_code == 200
    assert sandbox.browser.post(sandbox.url + "/sandbox/reset").status_code == 303
    assert post(score).status_code == 404
    assert "No columns yet" in sandbox.browser.get(sandbox.url + "/sandbox/gradebook").text
    assert token_request(sandbox, used).status_code == 401


def test_names_and_roles_lists_the_course_in_pages(sandbox: SandboxEnvironment) -> None:
    token = access_token(sandbox, canvas.SCOPE_MEMBERSHIP)
    url = f"{sandbox.url}{COURSE_API}/names_and_roles"
    members: list[dict[str, Any]] = []
    next_url: str | None = url
    pages = 0
    while next_url:
        page = sandbox.browser.get(next_url, headers=bearer(token))
        assert page.status_code == 200
        assert page.headers["content-type"] == "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
        body = page.json()
        assert body["id"] == url and body["context"] == {"id": "sandbox-course", "label": "SANDBOX",
                                                         "title": "Sandbox course"}
        members += body["members"]
        next_url = page.links.get("next", {}).get("url")
        pages += 1
    assert pages == 2
    assert [(member["user_id"], member["name"], member["roles"], member["status"]) for member in members] == [
        (ADA, "Ada Teacher", ["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"], "Active"),
        (SAM, "Sam Student", [canvas.LEARNER_ROLE], "Active"),
        (LEE, "Lee Learner", [canvas.LEARNER_ROLE], "Active"),
    ]
    learners = sandbox.browser.get(url, params={"role": "Learner", "limit": "10"}, headers=bearer(token)).json()
    assert [member["user_id"] for member in learners["members"]] == [SAM, LEE]
    assert sandbox.browser.get(url, headers=bearer(access_token(sandbox, canvas.SCOPE_SCORE))).status_code == 401


def test_the_gradebook_page_is_a_table_and_escapes_what_the_tool_sent(sandbox: SandboxEnvironment) -> None:
    empty = sandbox.browser.get(sandbox.url + "/sandbox/gradebook")
    assert empty.status_code == 200 and "No columns yet" in empty.text
    assert f'href="{sandbox.url}/sandbox/gradebook"' in sandbox.browser.get(sandbox.url + "/sandbox").text
    token = access_token(sandbox)
    created = sandbox.browser.post(f"{sandbox.url}{COURSE_API}/line_items", headers=bearer(token), json={
        "scoreMaximum": 4, "label": "<script>alert(1)</script>", "tag": '"><img src=x onerror=alert(2)>'}).json()
    sandbox.browser.post(created["id"] + "/scores", headers=bearer(token, **{"Content-Type": SCORE_TYPE}), content=(
        json.dumps({"userId": LEE, "scoreGiven": 3, "scoreMaximum": 4, "activityProgress": "Completed",
                    "gradingProgress": "FullyGraded", "timestamp": "2030-01-01T00:00:00+00:00",
                    "comment": "</pre><script>alert(3)</script>"})))
    page = sandbox.browser.get(sandbox.url + "/sandbox/gradebook").text
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert '<th scope="col">Student</th>' in page and '<th scope="row">Sam Student</th>' in page
    assert cell_texts(page) == [["Sam Student", "—"],
                                ["Lee Learner", "3 2030-01-01T00:00:00+00:00 Completed · FullyGraded"]]


# -- end to end -----------------------------------------------------------------------------------------------
def place_graded_quiz(env: SandboxEnvironment) -> tuple[str, dict[str, Any]]:
    """Add the quiz as an assignment; returns the assignments section of the course page and its column."""
    walk = env.walk("assignment_selection", [GRADED_QUIZ_ID])
    assert walk.course is not None
    page = walk.course.text
    assignments = page[page.index('id="assignments-heading"'):page.index('id="submissions-heading"')]
    assert "<h4>Photosynthesis check</h4>" in assignments and "Points: 5" in assignments
    [column] = gradebook.line_items(course_data(env))
    assert (column.label, column.score_maximum, column.resource_id, column.tag) == (
        "Photosynthesis check", 5, GRADED_QUIZ_ID, "lti-marketplace")
    return assignments, {"id": f"{env.url}{COURSE_API}/line_items/{column.id}", "link": column.resource_link_id}


def test_a_quiz_placed_as_an_assignment_is_graded_into_the_sandbox_gradebook(
    graded_sandbox: SandboxEnvironment,
) -> None:
    env = graded_sandbox
    assignments, column = place_graded_quiz(env)

    # Sam Student takes it: the launch names the column, as Canvas does for an assignment's link.
    [student_link] = open_links(assignments, "student")
    claims, quiz = env.launch(student_link.removeprefix(env.url))
    assert claims["sub"] == SAM and canvas.LEARNER_ROLE in claims[canvas.LTI + "roles"]
    assert claims[canvas.LTI + "resource_link"]["id"] == column["link"]
    assert claims[canvas.AGS_CLAIM] == {"scope": list(canvas.AGS_SCOPES),
                                        "lineitems": f"{env.url}{COURSE_API}/line_items", "lineitem": column["id"]}
    assert claims[canvas.NRPS_CLAIM] == {"context_memberships_url": f"{env.url}{COURSE_API}/names_and_roles",
                                         "service_versions": ["2.0"]}
    assert quiz.status_code == 200 and "Submit answers" in quiz.text and "Which gas do plants take in?" in quiz.text

    # Right, wrong, and one of two right answers: 2 + 0 + 1 of 5 points.
    submitted = submit(env, quiz.text, q1="1", q2="1", q3="0")
    assert submitted.status_code == 200, submitted.text[:800]
    assert "Score: 3 / 5" in submitted.text

    # The app's own grade worker delivers it to the column the launch named.
    wait_for(lambda: job_states(env) == [(SAM, "sent")], "the score to be sent")
    data = course_data(env)
    [received] = gradebook.received(data)
    assert received.status == 200 and received.line_item == column["id"].rsplit("/", 1)[-1]
    body = received.body
    assert set(body) == {"userId", "scoreGiven", "scoreMaximum", "activityProgress", "gradingProgress", "timestamp",
                         "submission", gradebook.CANVAS_SUBMISSION}
    assert (body["userId"], body["scoreGiven"], body["scoreMaximum"]) == (SAM, 3.0, 5.0)
    assert (body["activityProgress"], body["gradingProgress"]) == ("Completed", "FullyGraded")
    assert datetime.fromisoformat(body["timestamp"]).microsecond or "." in body["timestamp"]
    assert set(body["submission"]) == {"submittedAt"}
    assert body[gradebook.CANVAS_SUBMISSION]["new_submission"] is True
    assert len(gradebook.line_items(data)) == 1  # the tool used the column it was given, and made none

    page = env.browser.get(env.url + "/sandbox/gradebook").text
    assert '<th scope="col">Photosynthesis check <span class="sandbox-meta">out of 5</span></th>' in page
    rows = cell_texts(page)
    assert rows[0][0] == "Sam Student" and rows[0][1].startswith(f"3 {body['timestamp']} Completed · FullyGraded")
    assert rows[1] == ["Lee Learner", "—"]


def test_the_teachers_launch_shows_the_preview_and_the_roster_with_the_score(
    graded_sandbox: SandboxEnvironment,
) -> None:
    env = graded_sandbox
    assignments, column = place_graded_quiz(env)
    _, quiz = env.launch(open_links(assignments, "student")[0].removeprefix(env.url))
    assert "Score: 5 / 5" in submit(env, quiz.text, q1="1", q2="0", q3=["0", "1"]).text
    wait_for(lambda: job_states(env) == [(SAM, "sent")], "the score to be sent")

    [teacher_link] = open_links(assignments, "instructor")
    claims, preview = env.launch(teacher_link.removeprefix(env.url))
    assert claims["sub"] == ADA and claims[canvas.AGS_CLAIM]["lineitem"] == column["id"]
    assert preview.status_code == 200 and "Instructor preview" in preview.text and "Submit answers" not in preview.text
    grades = env.browser.get(env.url + "/lti/grades", headers={HEADER: launch_token(preview.text),
                                                               "HX-Request": "true"})
    assert grades.status_code == 200, grades.text[:800]
    view = grades.text
    # The tool read the roster and the column's results back from the sandbox, and found the score it sent.
    for trouble in ("could not be read", "not compared", "differs from this tool"):
        assert trouble not in view, view
    rows = {" ".join(re.sub(r"<[^>]+>", " ", name).split()): " ".join(re.sub(r"<[^>]+>", " ", row).split())
            for row, name in re.findall(r'(<tr[^>]*>\s*<th scope="row">(.*?)</th>.*?</tr>)', view, re.S)}
    # Lee Learner never opened the quiz: only Names and Roles (its second page) can have named them.
    assert set(rows) == {"Lee Learner", "Sam Student"}, view
    assert "No attempt" in rows["Lee Learner"] and "5 / 5" not in rows["Lee Learner"]
    assert "5 / 5" in rows["Sam Student"] and "Sent" in rows["Sam Student"]


def test_a_quiz_in_the_editor_gets_a_column_the_tool_creates(graded_sandbox: SandboxEnvironment) -> None:
    env = graded_sandbox
    walk = env.walk("editor_button", [GRADED_QUIZ_ID])
    assert walk.course is not None and gradebook.line_items(course_data(env)) == []
    [student_link] = open_links(walk.course.text, "student2")
    claims, quiz = env.launch(student_link.removeprefix(env.url))
    assert claims["sub"] == LEE and "lineitem" not in claims[canvas.AGS_CLAIM]
    assert "Score: 1 / 5" in submit(env, quiz.text, q1="0", q2="0", q3="2").text
    wait_for(lambda: job_states(env) == [(LEE, "sent")], "the score to be sent")
    # Canvas refuses resourceLinkId for a link without an assignment (412); the tool makes its column without.
    [column] = gradebook.line_items(course_data(env))
    link = claims[canvas.LTI + "resource_link"]["id"]
    assert (column.label, column.score_maximum, column.tag, column.resource_link_id, column.origin) == (
        "Photosynthesis check", 5, f"lti-marketplace:{link}", None, None)
    [result] = gradebook.results(course_data(env))
    assert (result.user_id, result.score, result.line_item) == (LEE, 1.0, column.id)
