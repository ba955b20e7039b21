"""The delivery worker: takes due jobs from the outbox and posts their scores to the platforms' gradebooks.

Failures are read as the platform meant them: 429, 5xx, timeouts and Canvas's 403 "Rate Limit Exceeded" are
retried later, honouring Retry-After; a 401 renews the token once; Canvas's 400 "timestamp … before last
updated" means a newer score is already there (superseded); any other 4xx fails the job with the platform's
own message, which the instructor sees and can retry.

When a platform's host fails, the host is paused (exponential backoff with jitter, capped so that recovery is
seen within seconds) and only one job probes it when the pause ends; the others wait without calling. That
keeps an hour-long outage at a few requests a minute, and delivers the backlog as soon as the probe succeeds.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
import httpx
from sqlalchemy.orm import Session, sessionmaker

from marketplace.clock import utc_now
from marketplace.grading import ags, outbox
from marketplace.grading.lineitems import LineItems, WaitForOther
from marketplace.grading.outbox import FAILED, PENDING, SENT, SUPERSEDED, ClaimedJob, Outcome
from marketplace.grading.products import product
from marketplace.grading.service_http import ServiceFailure
from marketplace.grading.tokens import AccessTokens

logger = logging.getLogger("marketplace.grading")


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    """How hard the worker pushes and how long it waits."""

    # Outcomes are recorded as each call returns, so a crash leaves in doubt only the calls under way (a claimed
    # job not yet sent is re-sent harmlessly); a larger batch spares claim queries.
    batch: int = 64
    concurrency: int = 16
    first_delay: float = 1.0
    max_host_delay: float = 15.0  # a recovered platform is noticed within this long
    wait_for_other: float = 0.5  # another worker is creating this link's column
    give_up_after: timedelta = timedelta(days=3)
    idle_poll: float = 5.0  # jobs written by other processes are found at least this often
    request_timeout: float = 20.0


@dataclass(slots=True)
class HostHealth:
    failures: int = 0
    paused_until: datetime | None = None


@dataclass(slots=True)
class DeliveryReport:
    """What one pass did."""

    claimed: int = 0
    states: dict[str, int] = field(default_factory=lambda: dict.fromkeys(outbox.STATES, 0))

    def add(self, other: DeliveryReport) -> None:
        self.claimed += other.claimed
        for state, count in other.states.items():
            self.states[state] += count


def score_body(job: ClaimedJob) -> dict[str, Any]:
    """The AGS score: always with scoreGiven (a Canvas score without it clears the grade)."""
    body: dict[str, Any] = {
        "userId": job.user_sub,
        "scoreGiven": job.score_given,
        "scoreMaximum": job.score_maximum,
        "activityProgress": "Completed",
        "gradingProgress": "FullyGraded",
        "timestamp": job.score_timestamp,
        "submission": {"submittedAt": job.submitted_at},
    }
    body.update(product(str(job.target.get("product", "generic"))).score_extensions(job.submitted_at))
    return body


def _host(job: ClaimedJob) -> str:
    url = job.lineitem_url or job.target.get("lineitem") or job.target.get("lineitems") or ""
    return urlsplit(str(url)).netloc.lower()


def _same_score(result: dict[str, Any], job: ClaimedJob) -> bool:
    """Whether the gradebook's result already holds this job's score (scaled to the column's maximum)."""
    given, maximum = result.get("resultScore"), result.get("resultMaximum")
    if not isinstance(given, int | float):
        return False
    scale = float(maximum) if isinstance(maximum, int | float) and maximum else job.score_maximum
    return abs(float(given) / scale - job.score_given / job.score_maximum) < 1e-6


class _Recorder:
    """Writes outcomes as they arrive; while one write runs, the next ones gather for the following write."""

    def __init__(self, write: Callable[[list[Outcome]], Awaitable[None]]) -> None:
        self._write = write
        self._pending: list[Outcome] = []
        self._ready = asyncio.Event()
        self._closed = False
        self._task = asyncio.create_task(self._run())

    def add(self, outcome: Outcome) -> None:
        self._pending.append(outcome)
        self._ready.set()

    async def _run(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            batch, self._pending = self._pending, []
            if batch:
                await self._write(batch)
            if self._closed and not self._pending:
                return

    async def close(self) -> None:
        """Write what is left and stop."""
        self._closed = True
        self._ready.set()
        await self._task


class GradeDelivery:
    """Delivers due grade jobs; one per process, any number of processes."""

    def __init__(self, sessions: sessionmaker[Session], client: httpx.AsyncClient, tokens: AccessTokens,
                 line_items: LineItems, config: DeliveryConfig | None = None,
                 now: Callable[[], datetime] = utc_now) -> None:
        self._sessions = sessions
        self._client = client
        self.tokens = tokens
        self.line_items = line_items
        self.config = config or DeliveryConfig()
        self._now = now
        self._hosts: dict[str, HostHealth] = {}
        self._wake = asyncio.Event()
        self._owner = uuid.uuid4().hex

    def wake(self) -> None:
        """A job was just written: look now rather than at the next poll."""
        self._wake.set()

    # -- passes ------------------------------------------------------------------------------------------
    async def run_once(self, limit: int | None = None, platform_id: int | None = None) -> DeliveryReport:
        """Claim one batch of due jobs, deliver them, record the outcomes."""
        jobs = await anyio.to_thread.run_sync(self._claim, limit or self.config.batch, platform_id)
        report = DeliveryReport(claimed=len(jobs))
        if not jobs:
            return report
        superseded = await anyio.to_thread.run_sync(self._superseded_ids, [job.id for job in jobs])
        owners = {job.id: job.owner for job in jobs}
        recorder = _Recorder(lambda batch: anyio.to_thread.run_sync(self._finish, batch, owners))
        outcomes = [Outcome(job.id, SUPERSEDED, message="A newer score for this learner was already sent.")
                    for job in jobs if job.id in superseded]
        for outcome in outcomes:
            recorder.add(outcome)
        try:
            outcomes += await self._deliver_all([job for job in jobs if job.id not in superseded], recorder.add)
        finally:
            await recorder.close()
        for outcome in outcomes:
            report.states[outcome.state] += 1
        return report

    async def drain(self, progress: Callable[[DeliveryReport], None] | None = None,
                    platform_id: int | None = None, patience: float = 3.0) -> DeliveryReport:
        """Deliver everything due now (and what falls due within `patience` seconds), then return."""
        total = DeliveryReport()
        while True:
            report = await self.run_once(platform_id=platform_id)
            total.add(report)
            if progress is not None and report.claimed:
                progress(report)
            if report.claimed:
                continue
            due = await anyio.to_thread.run_sync(self._next_due)
            if due is None:
                return total
            wait = (due - self._now()).total_seconds()
            if wait > patience:
                return total
            await asyncio.sleep(max(wait, 0.05))

    async def run_forever(self, stop: asyncio.Event) -> None:
        """The app's worker: deliver, then sleep until woken, the next job is due, or the poll interval."""
        while not stop.is_set():
            try:
                report = await self.run_once()
            except Exception:  # a database or network hiccup must not end the worker
                logger.exception("grade delivery pass failed; trying again shortly")
                report = DeliveryReport()
                await asyncio.sleep(2.0)
            if report.claimed:
                continue
            try:
                due = await anyio.to_thread.run_sync(self._next_due)
            except Exception:
                due = None
            wait = self.config.idle_poll
            if due is not None:
                wait = min(wait, max(0.05, (due - self._now()).total_seconds()))
            self._wake.clear()
            waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()

    # -- one batch -------------------------------------------------------------------------------------
    async def _deliver_all(self, jobs: list[ClaimedJob], record: Callable[[Outcome], None]) -> list[Outcome]:
        by_host: dict[str, list[ClaimedJob]] = {}
        for job in jobs:
            by_host.setdefault(_host(job), []).append(job)
        limit = asyncio.Semaphore(self.config.concurrency)
        results = await asyncio.gather(*(self._deliver_host(host, host_jobs, limit, record)
                                         for host, host_jobs in by_host.items()))
        return [outcome for outcomes in results for outcome in outcomes]

    async def _deliver_host(self, host: str, jobs: list[ClaimedJob], limit: asyncio.Semaphore,
                            record: Callable[[Outcome], None]) -> list[Outcome]:
        health = self._hosts.setdefault(host, HostHealth())
        outcomes: list[Outcome] = []

        def done(outcome: Outcome) -> Outcome:
            record(outcome)  # written at once, not at the end of the batch: a crash leaves less in doubt
            outcomes.append(outcome)
            return outcome

        if health.failures:
            # The host failed lately: one job probes it; the rest follow only if it answers.
            if health.paused_until and health.paused_until > self._now():
                return [done(self._postpone(job, health.paused_until)) for job in jobs]
            async with limit:
                done(await self._deliver_guarded(jobs[0], health))
            jobs = jobs[1:]
            if health.failures:
                for job in jobs:
                    done(self._postpone(job, health.paused_until))
                return outcomes

        async def one(job: ClaimedJob) -> Outcome:
            async with limit:
                if health.failures and health.paused_until and health.paused_until > self._now():
                    return done(self._postpone(job, health.paused_until))
                return done(await self._deliver_guarded(job, health))

        await asyncio.gather(*(one(job) for job in jobs))
        return outcomes

    def _postpone(self, job: ClaimedJob, until: datetime | None) -> Outcome:
        jitter = timedelta(milliseconds=random.uniform(0, 200))  # noqa: S311 - spreading load, not security
        return Outcome(job.id, PENDING, retry_at=(until or self._now()) + jitter, counts_as_try=False)

    async def _deliver_guarded(self, job: ClaimedJob, health: HostHealth) -> Outcome:
        try:
            outcome = await self._deliver(job)
        except ServiceFailure as failure:
            outcome = self._failed(job, failure, health)
        except WaitForOther:
            return Outcome(job.id, PENDING, retry_at=self._now() + timedelta(seconds=self.config.wait_for_other),
                           counts_as_try=False)
        except Exception as error:  # a bug must not lose the job: keep it, retry later, say what happened
            logger.exception("grade job %s: unexpected error", job.id)
            unexpected = ServiceFailure(None, f"Unexpected error while delivering ({type(error).__name__}).",
                                        retryable=True)
            outcome = self._failed(job, unexpected, health)
        if outcome.state in {SENT, SUPERSEDED}:
            health.failures, health.paused_until = 0, None
        return outcome

    def _failed(self, job: ClaimedJob, failure: ServiceFailure, health: HostHealth) -> Outcome:
        if failure.superseded:
            return Outcome(job.id, SUPERSEDED, failure.status, failure.message)
        if not failure.retryable:
            logger.warning("grade job %s failed: %s", job.id, failure.message)
            return Outcome(job.id, FAILED, failure.status, failure.message)
        now = self._now()
        if now - job.created_at > self.config.give_up_after:
            return Outcome(job.id, FAILED, failure.status,
                           f"The platform has not accepted this score for days. Last answer: {failure.message}")
        health.failures += 1
        delay = min(self.config.max_host_delay, self.config.first_delay * 2 ** (health.failures - 1))
        delay *= random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security
        if failure.retry_after is not None:
            delay = max(delay, failure.retry_after)
        health.paused_until = now + timedelta(seconds=delay)
        return Outcome(job.id, PENDING, failure.status, failure.message, retry_at=health.paused_until)

    async def _deliver(self, job: ClaimedJob) -> Outcome:
        scopes = list(job.target.get("scopes", []))

        async def token() -> str:
            return await self.tokens.get(job.platform_id, scopes)

        url, source = await self.line_items.resolve(job, self._owner, token)
        if job.in_doubt and ags.SCOPE_RESULT_READ in scopes and not await anyio.to_thread.run_sync(
                self._ambiguous, job):
            # The last worker died while delivering: if the gradebook already has this score, it arrived.
            found = await ags.results(self._client, await token(), url, user_id=job.user_sub)
            if any(result.get("userId") == job.user_sub and _same_score(result, job) for result in found):
                return Outcome(job.id, SENT, 200, "Confirmed in the gradebook after an interrupted delivery.",
                               lineitem_url=url)
        # Otherwise an in-doubt score is sent again with its own timestamp: the gradebook's value is right
        # either way, and the platform orders scores by that timestamp.
        if (job.lease_until - self._now()).total_seconds() < self.config.request_timeout:
            # Too close to the end of our lease: another worker may take the job; let it.
            return Outcome(job.id, PENDING, counts_as_try=False)
        body = score_body(job)
        current = await token()
        try:
            await ags.post_score(self._client, current, url, body)
        except ServiceFailure as failure:
            if failure.unauthorized:
                await self.tokens.invalidate(job.platform_id, scopes, current)
                await ags.post_score(self._client, await token(), url, body)
            elif failure.not_found and source in {"remembered", "found", "created"}:
                await self.line_items.forget(job.link_key, url)
                raise ServiceFailure(failure.status, failure.message + " The column will be looked up again.",
                                     retryable=job.tries < 3) from None
            else:
                raise
        return Outcome(job.id, SENT, 200, None, lineitem_url=url)

    # -- database (worker threads) -------------------------------------------------------------------
    def _claim(self, limit: int, platform_id: int | None) -> list[ClaimedJob]:
        with self._sessions() as session:
            return outbox.claim(session, self._now(), limit, platform_id=platform_id)

    def _superseded_ids(self, ids: list[int]) -> set[int]:
        with self._sessions() as session:
            return outbox.superseded_ids(session, ids)

    def _ambiguous(self, job: ClaimedJob) -> bool:
        with self._sessions() as session:
            return outbox.same_score_sent_before(session, job)

    def _finish(self, outcomes: list[Outcome], owners: dict[int, str]) -> None:
        with self._sessions() as session:
            outbox.finish(session, outcomes, self._now(), owners)
            session.commit()

    def _next_due(self) -> datetime | None:
        with self._sessions() as session:
            return outbox.next_due(session, self._now())
