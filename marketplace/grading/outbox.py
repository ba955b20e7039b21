"""The grade outbox: jobs written with their attempt, claimed by one worker at a time, finished with an outcome.

Claiming works the same on both engines: candidates are selected (PostgreSQL skips rows another worker holds
with `FOR UPDATE SKIP LOCKED`; SQLite serialises writers), then taken with an UPDATE that checks again that
nobody holds them, so two workers never get the same job. A worker that dies leaves its lease to run out; the
next claim takes the job up again and knows it was in flight (`claimed_at` still set), so delivery first asks
the gradebook whether the score already arrived.

Jobs of one series (a learner on a resource link) are claimed one at a time, oldest first: a newer score is
never overtaken by an older one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from marketplace.clock import aware, iso, parse_iso
from marketplace.store.models import GradeJobRow, PlatformRow

PENDING = "pending"
SENT = "sent"
FAILED = "failed"
SUPERSEDED = "superseded"
STATES = (PENDING, SENT, FAILED, SUPERSEDED)
LEASE = timedelta(seconds=120)


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A job this worker holds until its lease ends: everything delivery needs, detached from the session."""

    id: int
    platform_id: int
    link_key: str
    series: str
    user_sub: str
    score_given: float
    score_maximum: float
    score_timestamp: str
    submitted_at: str
    target: dict[str, Any]
    tries: int
    created_at: datetime
    lease_until: datetime
    lineitem_url: str | None
    in_doubt: bool  # a previous worker claimed it and never recorded an outcome: the score may have arrived
    owner: str  # this claim's lease: an outcome counts only while the job is still ours


@dataclass(slots=True)
class Outcome:
    """What happened to one claimed job."""

    job_id: int
    state: str
    status: int | None = None
    message: str | None = None
    retry_at: datetime | None = None
    lineitem_url: str | None = None
    counts_as_try: bool = True


def next_timestamp(session: Session, series: str, submitted_at: datetime) -> str:
    """The score timestamp: the submission time, nudged after the series' last one so it strictly increases."""
    last = session.scalars(
        select(GradeJobRow.score_timestamp).where(GradeJobRow.series == series).order_by(GradeJobRow.id.desc())
    ).first()
    moment = aware(submitted_at)
    if last is not None and parse_iso(last) >= moment:
        moment = parse_iso(last) + timedelta(microseconds=1)
    return iso(moment)


def enqueue(session: Session, **values: Any) -> GradeJobRow:
    """Add a pending job (the caller's transaction also holds the attempt: both are stored or neither)."""
    row = GradeJobRow(state=PENDING, tries=0, **values)
    session.add(row)
    return row


def _claimable(now: datetime) -> Any:
    earlier = aliased(GradeJobRow)
    return and_(
        GradeJobRow.state == PENDING,
        GradeJobRow.next_attempt_at <= now,
        or_(GradeJobRow.lease_until.is_(None), GradeJobRow.lease_until < now),
        ~exists().where(earlier.series == GradeJobRow.series, earlier.id < GradeJobRow.id,
                        earlier.state == PENDING),
    )


def claim(session: Session, now: datetime, limit: int, *, lease: timedelta = LEASE,
          platform_id: int | None = None) -> list[ClaimedJob]:
    """Take up to `limit` due jobs for this worker and commit, so other workers see them taken."""
    owner = uuid.uuid4().hex
    query = select(GradeJobRow.id).where(_claimable(now)).order_by(GradeJobRow.next_attempt_at, GradeJobRow.id)
    if platform_id is not None:
        query = query.where(GradeJobRow.platform_id == platform_id)
    candidates = list(session.scalars(query.limit(limit).with_for_update(skip_locked=True, of=GradeJobRow)))
    if not candidates:
        session.rollback()
        return []
    until = now + lease
    # Two writes and no read between them (on SQLite the write lock is held from the first write to the
    # commit): the lease returns the rows it took, as they were before this claim.
    rows = session.scalars(
        update(GradeJobRow)
        .where(GradeJobRow.id.in_(candidates), GradeJobRow.state == PENDING,
               or_(GradeJobRow.lease_until.is_(None), GradeJobRow.lease_until < now))
        .values(lease_owner=owner, lease_until=until)
        .returning(GradeJobRow)
        .execution_options(synchronize_session=False, populate_existing=True)
    ).all()
    claimed = sorted((_detached(row, until, owner) for row in rows), key=lambda job: job.id)
    # Set after the rows were read: the job's own `claimed_at` from an earlier, unfinished claim is what makes
    # it in doubt.
    session.execute(update(GradeJobRow).where(GradeJobRow.lease_owner == owner)
                    .values(claimed_at=now).execution_options(synchronize_session=False))
    session.commit()
    return claimed


def _detached(row: GradeJobRow, until: datetime, owner: str) -> ClaimedJob:
    return ClaimedJob(
        id=row.id, platform_id=row.platform_id, link_key=row.link_key, series=row.series, user_sub=row.user_sub,
        score_given=row.score_given, score_maximum=row.score_maximum, score_timestamp=row.score_timestamp,
        submitted_at=row.submitted_at, target=dict(row.target), tries=row.tries, created_at=aware(row.created_at),
        lease_until=until, lineitem_url=row.lineitem_url, in_doubt=row.claimed_at is not None,
        owner=owner,
    )


def superseded_ids(session: Session, ids: Sequence[int]) -> set[int]:
    """Which of these jobs have a later score of the same series already in the gradebook (an old retry must not
    undo it)."""
    if not ids:
        return set()
    later = aliased(GradeJobRow)
    query = select(GradeJobRow.id).where(GradeJobRow.id.in_(ids), exists().where(
        later.series == GradeJobRow.series, later.id > GradeJobRow.id, later.state == SENT))
    return set(session.scalars(query))


def same_score_sent_before(session: Session, job: ClaimedJob) -> bool:
    """Whether the series' last score sent before this job was this very score: the gradebook then shows it
    either way, and reading it back cannot tell whether this job's own call arrived."""
    last = session.scalars(select(GradeJobRow.score_given).where(
        GradeJobRow.series == job.series, GradeJobRow.id < job.id, GradeJobRow.state == SENT)
        .order_by(GradeJobRow.id.desc())).first()
    return last is not None and abs(last - job.score_given) < 1e-9


def finish(session: Session, outcomes: Iterable[Outcome], now: datetime, owners: Mapping[int, str]) -> int:
    """Record outcomes of jobs still leased by their worker (the caller commits); returns how many were kept."""
    kept = 0
    outcomes = list(outcomes)
    rows = {row.id: row for row in session.scalars(
        select(GradeJobRow).where(GradeJobRow.id.in_([outcome.job_id for outcome in outcomes])))}
    for outcome in outcomes:
        row = rows.get(outcome.job_id)
        if row is None or row.state != PENDING or row.lease_owner != owners.get(outcome.job_id):
            continue
        row.claimed_at = None
        row.lease_owner = None
        row.lease_until = None
        if outcome.counts_as_try:
            row.tries += 1
        if outcome.status is not None or outcome.message is not None:
            row.last_status = outcome.status
            row.last_message = outcome.message
        if outcome.lineitem_url:
            row.lineitem_url = outcome.lineitem_url
        row.state = outcome.state
        if outcome.state == SENT:
            row.sent_at = now
        if outcome.state == PENDING:
            row.next_attempt_at = outcome.retry_at or now
        kept += 1
    return kept


def retry(session: Session, now: datetime, *, job_ids: Sequence[int] | None = None, failed: bool = False,
          platform_ids: Sequence[int] | None = None) -> int:
    """Put failed jobs (all, or these) back in the queue, due now (the caller commits)."""
    query = update(GradeJobRow).where(GradeJobRow.state == FAILED)
    if job_ids is not None:
        query = query.where(GradeJobRow.id.in_(job_ids))
    elif not failed:
        return 0
    if platform_ids is not None:
        query = query.where(GradeJobRow.platform_id.in_(platform_ids))
    result = session.execute(query.values(state=PENDING, next_attempt_at=now, tries=0, lease_owner=None,
                                          lease_until=None, claimed_at=None, last_message=None, last_status=None)
                             .execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class PlatformCounts:
    """Jobs by state for one platform."""

    platform: str
    counts: dict[str, int]
    oldest_pending: datetime | None


def status(session: Session) -> list[PlatformCounts]:
    """Jobs by state per platform, for `marketplace grades status`."""
    rows = session.execute(
        select(PlatformRow.name, PlatformRow.issuer, GradeJobRow.state, func.count(), func.min(GradeJobRow.created_at))
        .join(PlatformRow, PlatformRow.id == GradeJobRow.platform_id)
        .group_by(PlatformRow.name, PlatformRow.issuer, GradeJobRow.state)
    ).all()
    by_platform: dict[str, PlatformCounts] = {}
    for name, issuer, state, count, oldest in rows:
        label = f"{name} ({issuer})" if name != issuer else issuer
        entry = by_platform.setdefault(label, PlatformCounts(label, dict.fromkeys(STATES, 0), None))
        entry.counts[state] = int(count)
        if state == PENDING and oldest is not None:
            by_platform[label] = PlatformCounts(label, entry.counts, aware(oldest))
    return [by_platform[label] for label in sorted(by_platform)]


def job_counts(sessions: sessionmaker[Session]) -> dict[str, int]:
    """Grade jobs by state, over every platform (for the metrics page)."""
    with sessions() as session:
        rows = session.execute(select(GradeJobRow.state, func.count()).group_by(GradeJobRow.state)).all()
    counts = dict.fromkeys(STATES, 0)
    counts.update({str(state): int(count) for state, count in rows})
    return counts


def next_due(session: Session, now: datetime) -> datetime | None:
    """When the earliest pending job may be claimed (None: nothing pending); a job another worker holds is
    not due before its lease ends."""
    free = session.scalars(select(func.min(GradeJobRow.next_attempt_at)).where(
        GradeJobRow.state == PENDING, or_(GradeJobRow.lease_until.is_(None), GradeJobRow.lease_until < now))).first()
    held = session.scalars(select(func.min(GradeJobRow.lease_until)).where(
        GradeJobRow.state == PENDING, GradeJobRow.lease_until >= now)).first()
    moments = [aware(moment) for moment in (free, held) if moment is not None]
    return min(moments) if moments else None
