"""HTTP side of grading: submit a quiz attempt, the instructor's grade view, its Retry button and CSV.

Each view reads the request, calls one service function of `marketplace.grading`, and renders the result.
The launch token comes in the htmx header, or as a form field when the browser posts without htmx.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from marketplace.clock import utc_now
from marketplace.grading import attempts, gradebook
from marketplace.grading.errors import GradingError
from marketplace.grading.runtime import Grading
from marketplace.lti import launch_token
from marketplace.lti.context import LaunchContext
from marketplace.web.launch_session import launch_context
from marketplace.web.services import services

MAX_QUIZ_FIELDS = 200


def _grading(request: Request) -> Grading:
    grading: Grading = services(request).grading
    return grading


async def _context(request: Request, form_token: str | None = None) -> LaunchContext:
    token = request.headers.get(launch_token.HEADER) or form_token
    return await run_in_threadpool(launch_context, request, token)


def _page(request: Request, partial: str, full: str, values: dict[str, object], token: str) -> Response:
    """The fragment for htmx, or the whole page (carrying the launch token) for a plain browser post."""
    htmx = bool(request.headers.get("HX-Request"))
    response: Response = services(request).templates.TemplateResponse(
        request, partial if htmx else full,
        {**values, "launch_token": token, "header": launch_token.HEADER},
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def submit_quiz(request: Request) -> Response:
    """POST /lti/quiz/submit: grade the answers on the server and store the attempt (and its score job)."""
    form = await request.form(max_files=0, max_fields=MAX_QUIZ_FIELDS)
    token = request.headers.get(launch_token.HEADER) or str(form.get("launch_token", ""))
    context = await _context(request, token)
    answers = {key: [str(value) for value in form.getlist(key)] for key in form if key != "launch_token"}
    sessions = services(request).sessions
    outcome = await run_in_threadpool(attempts.submit, sessions, context, answers, utc_now())
    if outcome.score_sent is not None:
        _grading(request).delivery.wake()
    page = await run_in_threadpool(attempts.quiz_page, sessions, context)
    return _page(request, "_quiz_result.html", "lti_quiz.html", {"outcome": outcome, "quiz": page,
                                                                  "context": context}, token)


async def quiz_form(request: Request) -> Response:
    """GET /lti/quiz/form: the quiz form again, for another attempt."""
    context = await _context(request)
    page = await run_in_threadpool(attempts.quiz_page, services(request).sessions, context)
    token = request.headers.get(launch_token.HEADER, "")
    return _page(request, "_quiz_form.html", "lti_quiz.html", {"quiz": page, "context": context}, token)


async def grade_view(request: Request) -> Response:
    """GET (htmx) or POST (a plain form) /lti/grades: roster, attempts, the score sent and its delivery state."""
    form_token = ""
    if request.method == "POST":
        form_token = str((await request.form(max_files=0, max_fields=8)).get("launch_token", ""))
    context = await _context(request, form_token)
    grading = _grading(request)
    view = await gradebook.grade_view(services(request).sessions, grading.client, grading.tokens, context)
    token = request.headers.get(launch_token.HEADER) or form_token
    return _page(request, "_grade_view.html", "lti_grades.html", {"view": view, "context": context}, token)


async def retry_grade(request: Request) -> Response:
    """POST /lti/grades/retry: put a failed grade back in the queue, then show the grade view again."""
    form = await request.form(max_files=0, max_fields=8)
    token = request.headers.get(launch_token.HEADER) or str(form.get("launch_token", ""))
    context = await _context(request, token)
    raw = str(form.get("job", ""))
    if not raw.isdigit():
        raise GradingError(400, "Say which grade to retry. Reload the grade view and use its Retry button.")
    await run_in_threadpool(gradebook.retry_job, services(request).sessions, context, int(raw), utc_now())
    grading = _grading(request)
    grading.delivery.wake()
    view = await gradebook.grade_view(services(request).sessions, grading.client, grading.tokens, context)
    return _page(request, "_grade_view.html", "lti_grades.html",
                 {"view": view, "context": context, "retried": True}, token)


async def grades_csv(request: Request) -> Response:
    """POST /lti/grades.csv: the grade view as a CSV download (a form post: downloads carry no htmx header)."""
    form = await request.form(max_files=0, max_fields=8)
    context = await _context(request, str(form.get("launch_token", "")))
    grading = _grading(request)
    view = await gradebook.grade_view(services(request).sessions, grading.client, grading.tokens, context)
    name = "".join(ch if ch.isalnum() else "-" for ch in view.title.lower()).strip("-")[:60] or "grades"
    return Response(gradebook.to_csv(view), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{name}-grades.csv"', "Cache-Control": "no-store"})


def routes() -> list[BaseRoute]:
    return [
        Route("/lti/quiz/submit", submit_quiz, methods=["POST"], name="lti_quiz_submit"),
        Route("/lti/quiz/form", quiz_form, name="lti_quiz_form"),
        Route("/lti/grades", grade_view, methods=["GET", "POST"], name="lti_grades"),
        Route("/lti/grades/retry", retry_grade, methods=["POST"], name="lti_grades_retry"),
        Route("/lti/grades.csv", grades_csv, methods=["POST"], name="lti_grades_csv"),
    ]
