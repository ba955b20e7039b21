"""The operator's page, as service functions: what it shows and the actions it offers, each one transaction.

Two kinds of operator: the holder of the admin secret sees and acts on everything; a platform administrator
(signed in through a launch) sees their own platform's deployments, grade failures and refusals, and may act
on those only. Tool-wide matters (keys, the catalog) are the secret holder's.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from marketplace.catalog.index_store import segment_sizes
from marketplace.catalog.records import resource_count
from marketplace.catalog.replica import CatalogReplica
from marketplace.catalog.search import CatalogIndex
from marketplace.catalog.sync import load_content, sync_index
from marketplace.clock import utc_now
from marketplace.errors import MarketplaceError
from marketplace.grading.outbox import FAILED, retry
from marketplace.lti.keys import KeyStatus, key_statuses, rotate
from marketplace.lti.refusals import Refusal, recent_refusals
from marketplace.store.models import DeploymentRow, GradeJobRow, PlatformRow, ReindexRunRow
from marketplace.store.registrations import PENDING, approve_deployment, approve_platform

FAILURES_SHOWN = 50
logger = logging.getLogger("marketplace.operator")


class OperatorError(MarketplaceError):
    """An action the operator may not take, or on something that is gone."""


@dataclass(frozen=True, slots=True)
class Scope:
    """Who is acting: the secret holder (`platform_id` None) or one platform's administrator."""

    platform_id: int | None = None
    label: str = "administrator"

    @property
    def whole_tool(self) -> bool:
        return self.platform_id is None


@dataclass(frozen=True, slots=True)
class DeploymentView:
    id: int
    deployment_id: str
    status: str


@dataclass(frozen=True, slots=True)
class PlatformView:
    id: int
    name: str
    issuer: str
    client_id: str
    status: str
    deployments: list[DeploymentView]


@dataclass(frozen=True, slots=True)
class FailedGrade:
    id: int
    platform: str
    user_sub: str
    score: str
    message: str
    failed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Overview:
    platforms: list[PlatformView]
    keys: list[KeyStatus]
    failures: list[FailedGrade]
    refusals: list[Refusal]


def overview(sessions: sessionmaker[Session], scope: Scope) -> Overview:
    with sessions() as session:
        query = select(PlatformRow).order_by(PlatformRow.issuer, PlatformRow.client_id)
        if not scope.whole_tool:
            query = query.where(PlatformRow.id == scope.platform_id)
        platforms = []
        for row in session.scalars(query):
            deployments = session.scalars(select(DeploymentRow).where(DeploymentRow.platform_id == row.id)
                                          .order_by(DeploymentRow.deployment_id))
            platforms.append(PlatformView(row.id, row.name, row.issuer, row.client_id, row.status,
                                          [DeploymentView(d.id, d.deployment_id, d.status) for d in deployments]))
        names = {platform.id: platform.name for platform in platforms}
        jobs = select(GradeJobRow).where(GradeJobRow.state == FAILED).order_by(GradeJobRow.id.desc())
        if not scope.whole_tool:
            jobs = jobs.where(GradeJobRow.platform_id == scope.platform_id)
        failures = [FailedGrade(job.id, names.get(job.platform_id, "?"), job.user_sub,
                                f"{job.score_given:g} / {job.score_maximum:g}", job.last_message or "",
                                job.created_at)
                    for job in session.scalars(jobs.limit(FAILURES_SHOWN))]
        keys = key_statuses(session) if scope.whole_tool else []
    # Refusals come before the platform is known (a bad token has none), so only the secret holder sees them.
    refusals = recent_refusals(sessions) if scope.whole_tool else []
    return Overview(platforms, keys, failures, refusals)


def _platform(session: Session, scope: Scope, platform_id: int) -> PlatformRow:
    row = session.get(PlatformRow, platform_id)
    if row is None or (not scope.whole_tool and row.id != scope.platform_id):
        raise OperatorError(404, "That platform is not registered (any more).")
    return row


def decide_platform(sessions: sessionmaker[Session], scope: Scope, platform_id: int, approve: bool) -> str:
    """Approve a pending platform (and the deployment it brought), or retire (remove) it. Only the secret holder
    decides on platforms, and only pending ones: an active platform holds grades and launches."""
    if not scope.whole_tool:
        raise OperatorError(403, "Only the tool's administrator approves or retires platforms.")
    with sessions() as session:
        row = _platform(session, scope, platform_id)
        if row.status != PENDING:
            raise OperatorError(409, f"{row.name} is already approved; remove it with `marketplace platform "
                                "remove` if you mean to delete it and everything it holds.")
        if approve:
            approve_platform(session, row)
            done = f"Approved {row.name} ({row.issuer})."
        else:
            session.delete(row)
            done = f"Retired the pending registration of {row.issuer}."
        session.commit()
        return done


def decide_deployment(sessions: sessionmaker[Session], scope: Scope, deployment_row_id: int, approve: bool) -> str:
    """Approve or retire a pending deployment of a platform within the scope."""
    with sessions() as session:
        row = session.get(DeploymentRow, deployment_row_id)
        if row is None:
            raise OperatorError(404, "That deployment is not registered (any more).")
        platform = _platform(session, scope, row.platform_id)
        if row.status != PENDING:
            raise OperatorError(409, f"The deployment {row.deployment_id} is already approved.")
        if platform.status == PENDING:
            raise OperatorError(409, f"Approve the platform {platform.name} first.")
        if approve:
            approve_deployment(session, row)
            done = f"Approved the deployment {row.deployment_id} of {platform.name}."
        else:
            session.delete(row)
            done = f"Retired the pending deployment {row.deployment_id} of {platform.name}."
        session.commit()
        return done


def rotate_keys(sessions: sessionmaker[Session], scope: Scope, secret_key: str) -> str:
    if not scope.whole_tool:
        raise OperatorError(403, "Only the tool's administrator rotates its keys.")
    with sessions() as session:
        retired, active = rotate(session, secret_key)
        session.commit()
    return f"Rotated the keys: {active} signs now; {retired} stays published for a while."


def retry_grade(sessions: sessionmaker[Session], scope: Scope, job_id: int) -> str:
    with sessions() as session:
        job = session.get(GradeJobRow, job_id)
        if job is None or (not scope.whole_tool and job.platform_id != scope.platform_id):
            raise OperatorError(404, "That grade is not in the outbox (any more).")
        if job.state != FAILED:
            raise OperatorError(409, f"That grade is {job.state}, not failed: there is nothing to retry.")
        retry(session, utc_now(), job_ids=[job_id])
        session.commit()
    return f"Queued the grade of {job.user_sub} again; the worker sends it within seconds."


REINDEX_STALE = timedelta(minutes=15)  # a run not heard from for this long ended with its process
PROGRESS_WRITE_SECONDS = 0.5  # progress is written at most this often (and at every change of phase)
_RUNNING = ("reading", "indexing")


@dataclass(frozen=True, slots=True)
class ReindexState:
    """The operator's page re-index as every worker and host sees it."""

    phase: str = "idle"  # idle | reading | indexing | done | failed
    done: int = 0
    total: int = 0
    message: str = ""
    runner: str = ""
    started_at: datetime | None = None

    @property
    def running(self) -> bool:
        return self.phase in _RUNNING

    @property
    def percent(self) -> int:
        return 100 if self.phase == "done" else int(100 * self.done / self.total) if self.total else 0


class Reindex:
    """The operator's page re-index: publish content/ to the database, then sync this host's index.

    Its state is one database row (`reindex_run`), not this process's memory: the page's poll may reach any
    worker or host, and only one run may go at a time, tool-wide. A run whose process died stays "running" in
    that row; once it has not been heard from for REINDEX_STALE, it is shown as stopped and a new one may start
    (the reading phase writes nothing until it ends: 100,000 files take about a minute).
    """

    def __init__(self) -> None:
        self._done = 0
        self._total = 0
        self._written_at = 0.0
        self._run_of: tuple[str, datetime] | None = None  # (runner, started_at) of this process's run

    def state(self, sessions: sessionmaker[Session]) -> ReindexState:
        with sessions() as session:
            row = session.get(ReindexRunRow, 1)
            if row is None:
                return ReindexState()
            state = ReindexState(row.phase, row.done, row.total, row.message, row.runner, row.started_at)
            if state.running and row.updated_at is not None and row.updated_at < utc_now() - REINDEX_STALE:
                return dataclasses.replace(state, phase="failed", message=(
                    f"The re-index on {row.runner} stopped without finishing (its process ended). Start it again."))
            return state

    def start(self, sessions: sessionmaker[Session], content_dir: Path, replica: CatalogReplica,
              scope: Scope) -> str:
        if not scope.whole_tool:
            raise OperatorError(403, "Only the tool's administrator re-indexes the catalog.")
        now = utc_now()
        runner = f"{socket.gethostname()} (process {os.getpid()})"
        claim = (update(ReindexRunRow)
                 .where(ReindexRunRow.id == 1,
                        or_(ReindexRunRow.phase.not_in(_RUNNING), ReindexRunRow.updated_at < now - REINDEX_STALE))
                 .values(phase="reading", done=0, total=0, message="", runner=runner, started_at=now, updated_at=now))
        with sessions() as session:
            claimed = session.execute(claim).rowcount  # type: ignore[attr-defined]
            if claimed == 0 and session.get(ReindexRunRow, 1) is None:  # a schema made without its migration
                session.add(ReindexRunRow(id=1, phase="reading", done=0, total=0, message="", runner=runner,
                                          started_at=now, updated_at=now))
                claimed = 1
            if claimed != 1:
                raise OperatorError(409, "A re-index is already running; its progress is shown below.")
            session.commit()
        self._done, self._total, self._written_at, self._run_of = 0, 0, 0.0, (runner, now)
        threading.Thread(target=self._run, args=(sessions, content_dir, replica), name="admin-reindex",
                         daemon=True).start()
        return "Re-indexing started."

    def _record(self, sessions: sessionmaker[Session], **values: object) -> None:
        """Write the run's state in a transaction of its own, while the row is still this run's (a run taken
        for dead and started again elsewhere is not overwritten by the first one finishing late). A failure is
        logged, never raised: the re-index itself goes on, and the next write (or the end) brings the row up
        to date."""
        assert self._run_of is not None  # noqa: S101 - start() claimed the row first
        runner, started_at = self._run_of
        try:
            with sessions() as session:
                session.execute(update(ReindexRunRow)
                                .where(ReindexRunRow.id == 1, ReindexRunRow.runner == runner,
                                       ReindexRunRow.started_at == started_at)
                                .values(updated_at=utc_now(), **values))
                session.commit()
            self._written_at = time.monotonic()
        except Exception as error:  # noqa: BLE001 - progress is shown, not needed
            logger.warning("re-index progress not recorded: %s: %s", type(error).__name__, error)

    def _run(self, sessions: sessionmaker[Session], content_dir: Path, replica: CatalogReplica) -> None:
        def advance(count: int) -> None:
            self._done = min(self._total, self._done + count)
            if time.monotonic() - self._written_at >= PROGRESS_WRITE_SECONDS:
                self._record(sessions, done=self._done)

        try:
            with sessions() as session:
                report = load_content(session, content_dir)
                session.commit()
                self._total = max(resource_count(session), 1)
                self._record(sessions, phase="indexing", total=self._total)
                sync_index(session, replica.index_dir, progress=advance)
            replica.catalog.refresh()
            self._record(sessions, phase="done", done=self._total, message=(
                f"{report.scanned} files: {report.added} added, {report.updated} updated, "
                f"{report.removed} removed, {len(report.problems)} with problems."))
        except Exception as error:  # noqa: BLE001 - shown to the operator, who can run `marketplace index`
            self._record(sessions, phase="failed", message=f"The re-index failed ({type(error).__name__}): {error}")


def catalog_status(catalog: CatalogIndex) -> str:
    """What the operator's page says of this host's index: its resources, and its segments with the
    documents that changes left behind (compaction, in the background, merges them away)."""
    try:
        count = catalog.document_count()
        sizes = segment_sizes(catalog.path)
    except Exception as error:  # noqa: BLE001 - a missing index is a state to show
        return f"This host's index is not loaded ({type(error).__name__})."
    stale = sum(size.deleted for size in sizes)
    return (f"{count} resources in this host's index, in {len(sizes)} segment{'s' if len(sizes) != 1 else ''}; "
            f"{stale} replaced or removed document{'s' if stale != 1 else ''} left for compaction.")
