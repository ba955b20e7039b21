"""The instructor's grade view of one graded link: the roster (Names and Roles, every page), each learner's
attempts, the score the policy sends, the delivery state of that score, and the gradebook's own value."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import anyio.to_thread
import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from marketplace.catalog.records import get_resource
from marketplace.clock import aware
from marketplace.grading import ags, outbox
from marketplace.grading.attempts import LinkPlace, delivery_target, link_place
from marketplace.grading.errors import GradingError
from marketplace.grading.policy import QuizPolicy
from marketplace.grading.service_http import ServiceFailure
from marketplace.grading.tokens import AccessTokens
from marketplace.lti.context import LEARNER_ROLES, LaunchContext
from marketplace.store.models import GradeJobRow, LaunchRow, LineItemRow, QuizAttemptRow

LEARNER_ROLE_NAMES = {*LEARNER_ROLES, "Learner", "Student", "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"}
STATE_WORDS = {outbox.PENDING: "Pending", outbox.SENT: "Sent", outbox.FAILED: "Failed",
               outbox.SUPERSEDED: "Superseded"}


@dataclass(frozen=True, slots=True)
class AttemptLine:
    number: int
    score: float
    max_score: float
    submitted_at: datetime


@dataclass(slots=True)
class LearnerRow:
    """One learner in the grade view."""

    user_id: str
    name: str
    in_roster: bool
    attempts: list[AttemptLine] = field(default_factory=list)
    score_sent: float | None = None
    max_score: float | None = None
    state: str | None = None  # pending | sent | failed | superseded, None when nothing was queued
    sent_at: datetime | None = None
    message: str | None = None
    job_id: int | None = None
    not_sent_reason: str | None = None
    gradebook: float | None = None  # the gradebook's value on the same scale as max_score
    differs: bool = False

    @property
    def state_words(self) -> str:
        if self.state is None:
            return "Not sent" if self.attempts else "No attempt"
        return STATE_WORDS[self.state]


@dataclass(slots=True)
class GradeView:
    title: str
    policy: QuizPolicy
    rows: list[LearnerRow]
    roster_note: str | None
    results_note: str | None
    delivery_note: str | None
    lineitem_url: str | None

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for row in self.rows:
            found[row.state_words] = found.get(row.state_words, 0) + 1
        return found


@dataclass(slots=True)
class _Stored:
    place: LinkPlace
    title: str
    max_score: float | None
    attempts: list[QuizAttemptRow]
    jobs: dict[str, GradeJobRow]
    platform_id: int
    lineitem_url: str | None
    nrps_url: str | None
    ags_scopes: list[str]
    delivery_note: str | None


def _require_instructor(context: LaunchContext) -> None:
    if not context.is_instructor:
        raise GradingError(403, "Only instructors see the grade view. Open the quiz to take it.")


def _stored(sessions: sessionmaker[Session], context: LaunchContext) -> _Stored:
    with sessions() as session:
        place = link_place(session, context)
        launch = session.get(LaunchRow, context.launch_id)
        claims = launch.claims if launch is not None else {}
        resource = get_resource(session, context.custom.get("resource_id", ""))
        attempts = list(session.scalars(select(QuizAttemptRow).where(
            QuizAttemptRow.platform_id == place.platform_id, QuizAttemptRow.deployment_id == place.deployment_id,
            QuizAttemptRow.context_id == place.context_id,
            QuizAttemptRow.resource_link_id == place.resource_link_id).order_by(QuizAttemptRow.user_sub,
                                                                                 QuizAttemptRow.number)))
        jobs = {job.attempt_id: job for job in session.scalars(
            select(GradeJobRow).where(GradeJobRow.link_key == place.key))}
        remembered = session.get(LineItemRow, place.key)
        claim = context.ags if isinstance(context.ags, dict) else {}
        lineitem = claim.get("lineitem") if isinstance(claim.get("lineitem"), str) else None
        nrps = context.nrps.get("context_memberships_url") if isinstance(context.nrps, dict) else None
        note = None
        if resource is not None and resource.type == "quiz":
            _, note = delivery_target(context, claims, resource, place)
        session.expunge_all()
        return _Stored(place, resource.title if resource else "A quiz no longer in the catalog",
                       float(resource.payload["max_score"]) if resource and resource.type == "quiz" else None,
                       attempts, jobs, place.platform_id, lineitem or (remembered.url if remembered else None),
                       nrps if isinstance(nrps, str) else None,
                       [str(scope) for scope in claim.get("scope") or []], note)


async def _roster(client: httpx.AsyncClient, tokens: AccessTokens, stored: _Stored) -> tuple[list[dict[str, Any]],
                                                                                               str | None]:
    if not stored.nrps_url:
        return [], "The course did not offer Names and Roles, so only learners who took the quiz are listed."
    try:
        token = await tokens.get(stored.platform_id, [ags.SCOPE_MEMBERSHIP])
        return await ags.memberships(client, token, stored.nrps_url), None
    except ServiceFailure as failure:
        return [], f"The roster could not be read, so only learners who took the quiz are listed. {failure.message}"


async def _results(client: httpx.AsyncClient, tokens: AccessTokens, stored: _Stored) -> tuple[dict[str, float],
                                                                                                str | None]:
    if ags.SCOPE_RESULT_READ not in stored.ags_scopes:
        return {}, "The course did not allow reading the gradebook back, so its values are not compared."
    if not stored.lineitem_url:
        return {}, "The gradebook column is not known yet (no score was delivered), so its values are not compared."
    scopes = sorted(set(stored.ags_scopes) & set(ags.DELIVERY_SCOPES))
    try:
        token = await tokens.get(stored.platform_id, scopes)
        results = await ags.results(client, token, stored.lineitem_url)
    except ServiceFailure as failure:
        return {}, f"The gradebook could not be read back. {failure.message}"
    values: dict[str, float] = {}
    for result in results:
        score, maximum = result.get("resultScore"), result.get("resultMaximum")
        if isinstance(result.get("userId"), str) and isinstance(score, int | float):
            values[str(result["userId"])] = float(score) / (float(maximum) if isinstance(maximum, int | float)
                                                             and maximum else 1.0)
        # A result without resultMaximum is taken as a fraction of 1 only when no maximum is known.
    return values, None


def _is_learner(member: dict[str, Any]) -> bool:
    return any(str(role) in LEARNER_ROLE_NAMES for role in member.get("roles") or [])


def _name(member: dict[str, Any]) -> str:
    joined = " ".join(str(member[part]) for part in ("given_name", "family_name") if member.get(part))
    return str(member.get("name") or joined or member.get("email") or member["user_id"])


def _build(stored: _Stored, policy: QuizPolicy, roster: list[dict[str, Any]],
           results: dict[str, float]) -> list[LearnerRow]:
    rows: dict[str, LearnerRow] = {}
    for member in roster:
        if _is_learner(member) and str(member.get("status", "Active")) != "Deleted":
            rows[str(member["user_id"])] = LearnerRow(str(member["user_id"]), _name(member), True)
    for attempt in stored.attempts:
        row = rows.setdefault(attempt.user_sub, LearnerRow(attempt.user_sub, attempt.user_name or attempt.user_sub,
                                                           False))
        row.attempts.append(AttemptLine(attempt.number, attempt.score, attempt.max_score,
                                        aware(attempt.submitted_at)))
        row.max_score = attempt.max_score
        job = stored.jobs.get(attempt.id)
        if job is None:
            row.not_sent_reason = attempt.not_sent_reason
            continue
        # The newest job speaks for the learner, except that a sent score stays visible behind a superseded one.
        row.score_sent, row.state, row.job_id = job.score_given, job.state, job.id
        row.sent_at = aware(job.sent_at) if job.sent_at else None
        row.message = job.last_message
    for row in rows.values():
        if row.attempts and row.score_sent is None:
            row.score_sent = policy.score_to_send([attempt.score for attempt in row.attempts])
        if row.user_id in results and row.max_score:
            row.gradebook = round(results[row.user_id] * row.max_score, 4)
        if results and row.state == outbox.SENT and row.score_sent is not None and row.max_score:
            row.differs = row.gradebook is None or abs(row.gradebook - row.score_sent) > 1e-4
        elif row.gradebook is not None and row.score_sent is not None:
            row.differs = abs(row.gradebook - row.score_sent) > 1e-4
    return sorted(rows.values(), key=lambda row: (row.name.casefold(), row.user_id))


async def grade_view(sessions: sessionmaker[Session], client: httpx.AsyncClient, tokens: AccessTokens,
                     context: LaunchContext) -> GradeView:
    """Everything the instructor's grade view shows for the launched link."""
    _require_instructor(context)
    stored = await anyio.to_thread.run_sync(_stored, sessions, context)
    policy = QuizPolicy.from_custom(context.custom)
    roster, roster_note = await _roster(client, tokens, stored)
    results, results_note = await _results(client, tokens, stored)
    return GradeView(stored.title, policy, _build(stored, policy, roster, results), roster_note, results_note,
                     stored.delivery_note, stored.lineitem_url)


def retry_job(sessions: sessionmaker[Session], context: LaunchContext, job_id: int, now: datetime) -> int:
    """Put one failed job of this link back in the queue (the Retry button)."""
    _require_instructor(context)
    with sessions() as session:
        place = link_place(session, context)
        job = session.get(GradeJobRow, job_id)
        if job is None or job.link_key != place.key:
            raise GradingError(404, "That grade is not one of this link's. Reload the grade view.")
        if job.state != outbox.FAILED:
            raise GradingError(409, "That grade is not failed (it may have been retried already). Reload the grade "
                                    "view.")
        count = outbox.retry(session, now, job_ids=[job_id])
        session.commit()
        return count


def to_csv(view: GradeView) -> str:
    """The grade view as CSV (one line per learner), for spreadsheets."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Learner", "User ID", "In roster", "Attempts", "Scores", "Score sent", "Maximum", "Sync state",
                     "Sent at", "Platform message", "Gradebook value", "Differs from gradebook"])
    for row in view.rows:
        writer.writerow([
            _safe_cell(row.name), _safe_cell(row.user_id), "yes" if row.in_roster else "no", len(row.attempts),
            " ".join(f"{attempt.score:g}" for attempt in row.attempts),
            "" if row.score_sent is None else f"{row.score_sent:g}",
            "" if row.max_score is None else f"{row.max_score:g}", row.state_words,
            row.sent_at.isoformat(timespec="seconds") if row.sent_at else "",
            _safe_cell(row.message or row.not_sent_reason or ""),
            "" if row.gradebook is None else f"{row.gradebook:g}", "yes" if row.differs else "no",
        ])
    return out.getvalue()


def _safe_cell(value: str) -> str:
    """Names and messages come from elsewhere: keep a spreadsheet from reading them as formulas."""
    return "'" + value if value[:1] in {"=", "+", "-", "@", "\t", "\r"} else value
