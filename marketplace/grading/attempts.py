"""Taking a quiz in a resource launch: the service functions views call (one unit of work each).

A submitted attempt is graded from the answer key on the server, stored, and, when the launch offered grade
services, its score job is written to the outbox in the same transaction: both are stored or neither is.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from marketplace.catalog.records import get_resource
from marketplace.catalog.resource import Resource
from marketplace.clock import aware, iso
from marketplace.grading import ags, outbox
from marketplace.grading.errors import GradingError
from marketplace.grading.lineitems import remember_from_launch
from marketplace.grading.links import link_key, series_key
from marketplace.grading.policy import QuizPolicy
from marketplace.grading.products import product_name
from marketplace.grading.quiz import QuizResult, chosen_options, grade, is_multiple, right_answers
from marketplace.lti.context import LaunchContext
from marketplace.store.models import LaunchRow, QuizAttemptRow


@dataclass(frozen=True, slots=True)
class AttemptSummary:
    number: int
    score: float
    max_score: float
    submitted_at: datetime


@dataclass(frozen=True, slots=True)
class QuizPage:
    """What the launched quiz page shows: questions (with the key only for instructors) and the attempts so far."""

    resource: Resource
    policy: QuizPolicy
    questions: list[dict[str, Any]]
    attempts: list[AttemptSummary]
    attempts_left: int | None
    preview: bool  # an instructor: answer key shown, nothing submitted
    not_sent_reason: str | None

    @property
    def can_submit(self) -> bool:
        return not self.preview and self.attempts_left != 0


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """A graded, stored attempt and what happens to its score."""

    result: QuizResult
    number: int
    attempts_left: int | None
    policy: QuizPolicy
    score_sent: float | None  # the score the gradebook will get (the policy's choice), None when none is sent
    not_sent_reason: str | None


@dataclass(frozen=True, slots=True)
class LinkPlace:
    """Where a launch's resource link lives: platform, deployment, course and link."""

    platform_id: int
    deployment_id: str
    context_id: str
    resource_link_id: str

    @property
    def key(self) -> str:
        return link_key(self.platform_id, self.deployment_id, self.context_id, self.resource_link_id)


def link_place(session: Session, context: LaunchContext) -> LinkPlace:
    launch = session.get(LaunchRow, context.launch_id)
    if launch is None or not context.resource_link_id:
        raise GradingError(400, "This page is not a quiz opened from a course link. Open it again from your course.")
    return LinkPlace(launch.platform_id, context.deployment_id, context.context_id or "", context.resource_link_id)


def quiz_resource(session: Session, context: LaunchContext) -> Resource:
    resource = get_resource(session, context.custom.get("resource_id", ""))
    if resource is None:
        raise GradingError(404, "This quiz is no longer in the catalog, so it cannot be taken or graded. Ask your "
                                "instructor to choose another one; scores already earned are kept.")
    if resource.type != "quiz":
        raise GradingError(400, "This resource is not a quiz, so there is nothing to submit.")
    return resource


def delivery_target(context: LaunchContext, claims: Mapping[str, Any], resource: Resource,
                    place: LinkPlace) -> tuple[dict[str, Any] | None, str | None]:
    """Where this link's scores go (from the launch's AGS claim), or why they cannot be sent."""
    claim = context.ags
    if not isinstance(claim, dict):
        return None, ("The course did not offer grade services (AGS) for this link, so scores stay in this tool. "
                      "Add the quiz again as a graded assignment to send them.")
    scopes = [str(scope) for scope in claim.get("scope") or [] if isinstance(scope, str)]
    if ags.SCOPE_SCORE not in scopes:
        return None, "The course did not give this tool permission to post scores (the AGS score scope)."
    lineitem = claim.get("lineitem") if isinstance(claim.get("lineitem"), str) else None
    lineitems = claim.get("lineitems") if isinstance(claim.get("lineitems"), str) else None
    if not lineitem:
        if not lineitems:
            return None, "The course named no gradebook column for this link and no way to find or create one."
        if not {ags.SCOPE_LINEITEM, ags.SCOPE_LINEITEM_READ} & set(scopes):
            return None, "The course did not give this tool permission to find or create its gradebook column."
        if not place.context_id:
            return None, "The launch named no course, so its gradebook column cannot be found."
    return {
        "lineitem": lineitem, "lineitems": lineitems,
        "scopes": sorted(set(scopes) & set(ags.DELIVERY_SCOPES)),
        "resource_id": resource.id, "label": resource.title[:200],
        "score_maximum": float(resource.payload["max_score"]),
        "context_id": place.context_id, "resource_link_id": place.resource_link_id,
        "product": product_name(claims),
    }, None


def _attempt_rows(session: Session, place: LinkPlace, user_sub: str) -> list[QuizAttemptRow]:
    return list(session.scalars(
        select(QuizAttemptRow).where(
            QuizAttemptRow.platform_id == place.platform_id, QuizAttemptRow.deployment_id == place.deployment_id,
            QuizAttemptRow.context_id == place.context_id, QuizAttemptRow.resource_link_id == place.resource_link_id,
            QuizAttemptRow.user_sub == user_sub,
        ).order_by(QuizAttemptRow.number)
    ))


def _questions(resource: Resource, with_key: bool) -> list[dict[str, Any]]:
    shown = []
    for number, question in enumerate(resource.payload["questions"], start=1):
        entry: dict[str, Any] = {"number": number, "prompt": question["prompt"], "options": question["options"],
                                 "points": question["points"], "multiple": is_multiple(question)}
        if with_key:
            entry["right"] = right_answers(question)
            entry["explanation"] = question.get("explanation")
        shown.append(entry)
    return shown


def quiz_page(sessions: sessionmaker[Session], context: LaunchContext) -> QuizPage:
    """The quiz as this launch shows it: a learner's form and attempts, or an instructor's preview with the key."""
    with sessions() as session:
        resource = quiz_resource(session, context)
        policy = QuizPolicy.from_custom(context.custom)
        preview = context.is_instructor or not context.is_learner
        attempts: list[AttemptSummary] = []
        reason = None
        if context.resource_link_id:
            place = link_place(session, context)
            launch = session.get(LaunchRow, context.launch_id)
            claims = launch.claims if launch is not None else {}
            _, reason = delivery_target(context, claims, resource, place)
            attempts = [AttemptSummary(row.number, row.score, row.max_score, aware(row.submitted_at))
                        for row in _attempt_rows(session, place, context.user_sub)] if not preview else []
        return QuizPage(resource, policy, _questions(resource, with_key=preview), attempts,
                        policy.attempts_left(len(attempts)), preview, reason)


def submit(sessions: sessionmaker[Session], context: LaunchContext, form: Mapping[str, Sequence[str]],
           now: datetime) -> AttemptOutcome:
    """Grade a learner's answers, store the attempt and (when the course takes grades) its score job."""
    if not context.is_learner or context.is_instructor:
        raise GradingError(403, "Only learners submit answers. As an instructor you see a preview with the answer "
                                "key; your students' scores are in the grade view.")
    with sessions() as session:
        resource = quiz_resource(session, context)
        place = link_place(session, context)
        launch = session.get(LaunchRow, context.launch_id)
        assert launch is not None  # noqa: S101 - link_place read it
        policy = QuizPolicy.from_custom(context.custom)
        previous = _attempt_rows(session, place, context.user_sub)
        if policy.attempts_left(len(previous)) == 0:
            raise GradingError(409, f"You have used all {policy.attempts_allowed} attempts at this quiz. Your "
                                    "score is kept; ask your instructor if you need another attempt.")
        result = grade(resource.payload, chosen_options(form, resource.payload["questions"]))
        started = max([aware(launch.created_at), *(aware(row.submitted_at) for row in previous
                                                     if row.launch_id == launch.id)])
        target, reason = delivery_target(context, launch.claims, resource, place)
        # Every read before the first write (the attempt's INSERT, flushed by the next query otherwise): on SQLite
        # the write lock is held from the first write to the commit, and every other writer waits.
        series = series_key(place.key, context.user_sub)
        timestamp = outbox.next_timestamp(session, series, now) if target is not None else None
        if target is not None and target["lineitem"]:
            remember_from_launch(session, place.key, place.platform_id, place.context_id, place.resource_link_id,
                                 str(target["lineitem"]))
        attempt = QuizAttemptRow(
            id=str(uuid.uuid4()), platform_id=place.platform_id, deployment_id=place.deployment_id,
            context_id=place.context_id, resource_link_id=place.resource_link_id, user_sub=context.user_sub,
            user_name=context.display_name[:300], launch_id=launch.id, resource_id=resource.id,
            number=len(previous) + 1, answers=result.answers(), score=result.score, max_score=result.max_score,
            started_at=started, submitted_at=now, not_sent_reason=reason,
        )
        session.add(attempt)
        score_sent = policy.score_to_send([*(row.score for row in previous), result.score])
        try:
            session.flush()  # the attempt before its grade job: no relationship tells the flush to order them
            if target is not None and timestamp is not None:
                outbox.enqueue(
                    session, attempt_id=attempt.id, platform_id=place.platform_id, link_key=place.key,
                    series=series, user_sub=context.user_sub, score_given=score_sent,
                    score_maximum=result.max_score, score_timestamp=timestamp, submitted_at=iso(now),
                    target=target, next_attempt_at=now,
                )
            session.commit()
        except IntegrityError:
            session.rollback()
            raise GradingError(409, "This attempt was submitted twice at the same moment; the first one counts. "
                                    "Reload the quiz to see your score.") from None
        return AttemptOutcome(result, attempt.number, policy.attempts_left(attempt.number), policy,
                              score_sent if target is not None else None, reason)

