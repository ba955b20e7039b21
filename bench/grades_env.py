"""The loopback world of the grades benchmark: our tool served by `marketplace serve` in its own process, the
strict loopback platform (tests/lti/peer.py with tests/grading/gradebook_peer.py) in this process, learners
launched through the platform's OIDC flow, and the `marketplace` CLI run as a subprocess.

Each scenario gets a fresh data folder and a fresh database: a SQLite file in the folder, or, when a
PostgreSQL URL is given, a new schema in that database (`search_path` set through the URL, dropped at the end).
"""

from __future__ import annotations

import html
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import Response

from marketplace.clock import utc_now
from marketplace.store.database import make_engine, make_session_factory
from marketplace.store.models import GradeJobRow
from marketplace.store.registrations import add_deployment, add_platform
from tests.grading.gradebook_peer import ALL_SCOPES, SCOPE_LINEITEM, SCOPE_SCORE, GradebookPeer
from tests.lti.peer import LEARNER, PlatformPeer, RsaKey
from tests.lti.servers import reserved_socket, serving, unused_port

ROOT = Path(__file__).resolve().parent.parent
CONTENT_DIR = ROOT / "content"
QUIZ = "ess-quiz-our-solar-system"  # the bundled catalog's quiz: 7 questions of 1 point, 4 options each
QUIZ_QUESTIONS = 7
COURSE = "course-1"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
CUSTOM = "https://purl.imsglobal.org/spec/lti/claim/custom"
TOOL_PLATFORM = "https://purl.imsglobal.org/spec/lti/claim/tool_platform"
HEADER = "X-Launch-Token"
SECRET_KEY = "grades-bench-" + "k" * 40
# The two scope sets a launch can grant here: all four AGS scopes (as Canvas and Moodle do), or `lineitem` and
# `score` only (the tool can find or create its column and post scores, but cannot read results).
FULL_SCOPES = list(ALL_SCOPES)
WRITE_SCOPES = [SCOPE_LINEITEM, SCOPE_SCORE]


# -- the platform, with its key parsed once ----------------------------------------------------------------
class CachedKey(RsaKey):
    """The platform's signing key, its public PEM derived once: `RsaKey.public_pem` re-parses the private key
    (~26 ms), and the peer asks for it on every login, launch and service call."""

    _public: str | None = None

    def public_pem(self) -> str:
        if self._public is None:
            self._public = super().public_pem()
        return self._public


class BenchPeer(PlatformPeer):
    """The test suite's loopback platform with the same checks; its key is parsed once rather than on each
    use (signing an id_token from the PEM costs ~27 ms, nearly all of it parsing the key)."""

    def __init__(self, issuer: str, tool_url: str) -> None:
        super().__init__(issuer, tool_url)
        key = self.signing_key
        self.signing_key = CachedKey(key.kid, key.private_pem, key.public_jwk)
        self.keys = [self.signing_key]
        self._private = serialization.load_pem_private_key(key.private_pem.encode(), password=None)

    def _sign(self, claims: dict[str, Any], header: dict[str, Any]) -> str:
        if self.scenario.signer != "platform":
            return super()._sign(claims, header)
        return jwt.encode(claims, self._private, algorithm="RS256", headers=header)  # type: ignore[arg-type]


# -- the platform's gradebook, timed ---------------------------------------------------------------------------
class BenchGradebook(GradebookPeer):
    """The strict loopback gradebook, also noting when each call came and each score was accepted.

    Its checks are the test suite's; only their cost changes (see CachedKey), so that the peer is not what
    limits the rate.
    """

    def __init__(self, peer: PlatformPeer, tool_url: str) -> None:
        super().__init__(peer, tool_url)
        self.accepted: list[tuple[float, str, str, float]] = []  # (monotonic, userId, timestamp, scoreGiven)
        self.call_times: list[tuple[str, float]] = []  # (kind, monotonic) of every service call
        self.token_answers: list[tuple[float, str, int]] = []  # (monotonic, scope, expires_in)

    async def _fault(self, kind: str) -> Response | None:
        self.call_times.append((kind, time.monotonic()))
        return await super()._fault(kind)

    async def scores_endpoint(self, request: Request) -> Response:
        response = await super().scores_endpoint(request)
        if response.status_code == 200:  # the only answer that recorded the score (scores[-1], no await since)
            body = self.scores[-1]
            self.accepted.append((time.monotonic(), str(body["userId"]), str(body["timestamp"]),
                                  float(body["scoreGiven"])))
        return response

    async def token(self, request: Request) -> Response:
        response = await super().token(request)
        if response.status_code == 200:
            answer = json.loads(bytes(response.body))
            self.token_answers.append((time.monotonic(), str(answer.get("scope", "")),
                                       int(answer.get("expires_in", 0))))
        return response

    def accepted_count(self) -> int:
        return len(self.accepted)

    def ags_calls_between(self, start: float, end: float) -> int:
        """Service calls other than token requests that arrived in [start, end)."""
        return sum(1 for kind, moment in list(self.call_times) if kind != "token" and start <= moment < end)


# -- the database ---------------------------------------------------------------------------------------------
def _with_search_path(url: str, schema: str) -> str:
    parsed = make_url(url)
    return parsed.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


@contextmanager
def scenario_database(base_url: str | None, data_dir: Path, name: str, keep: bool) -> Iterator[str]:
    """A fresh database for one scenario: SQLite in the data folder, or a new schema in the PostgreSQL database."""
    if not base_url:
        yield f"sqlite:///{data_dir / 'marketplace.sqlite3'}"
        return
    if make_url(base_url).get_backend_name() != "postgresql":
        raise SystemExit("--database-url must be a PostgreSQL URL (SQLite is the default)")
    schema = f"bench_grades_{name}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _with_search_path(base_url, schema)
    finally:
        if not keep:
            with admin.connect() as connection:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


# -- the world of one scenario ----------------------------------------------------------------------------------
@dataclass
class Learner:
    user: str
    link: str
    token: str = ""
    attempts: int = 0


@dataclass
class AttemptFigures:
    """How the attempts went through POST /lti/quiz/submit."""

    learners: int = 0
    attempts: int = 0
    failures: list[str] = field(default_factory=list)
    launch_seconds: float = 0.0
    seconds: float = 0.0  # launches and submissions, wall time

    @property
    def per_second(self) -> float:
        return self.attempts / self.seconds if self.seconds else 0.0


class World:
    """Our tool (`marketplace serve` in a subprocess) and the loopback platform, on one fresh database."""

    def __init__(self, workdir: Path, database_url: str, *, grade_worker: bool,
                 link_scopes: dict[str, list[str]], workers: int = 1) -> None:
        self.workdir = workdir
        self.workers = workers
        self.data_dir = workdir / "var"
        self.database_url = database_url
        self.grade_worker = grade_worker
        self.link_scopes = link_scopes
        # The platform serves on a socket held from now on; `marketplace serve` binds its own port, picked free
        # outside the ephemeral range (tests.lti.servers.unused_port).
        self.peer_socket = reserved_socket()
        self.tool_port, self.peer_port = unused_port(), self.peer_socket.getsockname()[1]
        self.tool_url = f"http://127.0.0.1:{self.tool_port}"
        self.peer_url = f"http://127.0.0.1:{self.peer_port}"
        self.peer = BenchPeer(self.peer_url, self.tool_url)
        self.gradebook = BenchGradebook(self.peer, self.tool_url)
        self.peer.services = self.gradebook.app()
        self.env = {
            **os.environ,
            "MARKETPLACE_DATA_DIR": str(self.data_dir),
            "MARKETPLACE_DATABASE_URL": database_url,
            "MARKETPLACE_CONTENT_DIR": str(CONTENT_DIR),
            "MARKETPLACE_BASE_URL": self.tool_url,
            "MARKETPLACE_SECRET_KEY": SECRET_KEY,
            "MARKETPLACE_ENV": "test",
            "MARKETPLACE_GRADE_WORKER": "1" if grade_worker else "0",
            "PYTHONUNBUFFERED": "1",
        }
        self.engine: Engine | None = None
        self.sessions: sessionmaker[Session] | None = None
        self.tool: subprocess.Popen[bytes] | None = None
        self._launch_lock = threading.Lock()
        self.learner_links: dict[str, str] = {}

    # -- the CLI ----------------------------------------------------------------------------------------------
    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "marketplace.cli", *args]

    def cli(self, *args: str, log: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run `marketplace ARGS` to completion; its output goes to a log file in the work folder."""
        done = subprocess.run(self.command(*args), env=self.env, cwd=ROOT, capture_output=True, text=True,
                              timeout=900, check=False)
        (self.workdir / (log or "-".join(args).replace("/", "_") + ".log")).write_text(
            done.stdout + "\n--- stderr ---\n" + done.stderr, encoding="utf-8")
        if done.returncode != 0:
            raise RuntimeError(f"marketplace {' '.join(args)} failed ({done.returncode}): "
                               f"{done.stderr.strip()[-2000:]}")
        return done

    def start_cli(self, *args: str, log: str) -> tuple[subprocess.Popen[bytes], Any]:
        handle = open(self.workdir / log, "wb")  # noqa: SIM115 - closed by the caller after the process ends
        process = subprocess.Popen(self.command(*args), env=self.env, cwd=ROOT, stdout=handle,
                                   stderr=subprocess.STDOUT)
        return process, handle

    # -- starting and stopping ------------------------------------------------------------------------------
    @contextmanager
    def running(self) -> Iterator[World]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.cli("db", "upgrade")
        self.cli("index")
        self.engine = make_engine(self.database_url)
        self.sessions = make_session_factory(self.engine)
        with self.sessions() as session:
            platform = add_platform(session, issuer=self.peer_url, client_id=self.peer.client_id,
                                    name="Loopback LMS", auth_login_url=self.peer_url + "/auth",
                                    auth_token_url=self.peer_url + "/token", key_set_url=self.peer_url + "/jwks",
                                    allow_http=True)
            add_deployment(session, platform, self.peer.deployment_id)
            session.commit()
        with ExitStack() as stack:
            stack.enter_context(serving(self.peer.app(), self.peer_socket))
            stack.callback(self._stop_tool)
            self._start_tool()
            try:
                yield self
            finally:
                stack.close()
                self.engine.dispose()

    def _start_tool(self) -> None:
        log = open(self.workdir / "serve.log", "wb")  # noqa: SIM115 - closed when the server stops
        self._tool_log = log
        self.tool = subprocess.Popen(self.command("serve", "--port", str(self.tool_port), "--workers",
                                                  str(self.workers)), env=self.env, cwd=ROOT,
                                     stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.tool.poll() is not None:
                raise RuntimeError(f"marketplace serve exited; see {self.workdir / 'serve.log'}")
            try:
                if httpx.get(self.tool_url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("marketplace serve did not answer /healthz within 60 s")

    def _stop_tool(self) -> None:
        if self.tool is not None and self.tool.poll() is None:
            self.tool.send_signal(signal.SIGTERM)
            try:
                self.tool.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.tool.kill()
                self.tool.wait()
        self._tool_log.close()

    # -- learners -----------------------------------------------------------------------------------------
    def launch(self, browser: httpx.Client, learner: Learner) -> None:
        """The learner opens the quiz link: login at the tool, auth at the platform, the launch form posted back."""
        peer = self.peer
        with self._launch_lock:  # the peer issues the id_token from its current user and claims
            peer.user_id = learner.user
            peer.roles = [LEARNER]
            peer.resource_link_id = learner.link
            peer.message_type = "LtiResourceLinkRequest"
            peer.extra_claims = {
                CUSTOM: {"resource_id": QUIZ},
                TOOL_PLATFORM: {"product_family_code": "canvas", "guid": "loopback"},
                AGS_CLAIM: self.gradebook.ags_claim(COURSE, scopes=self.link_scopes[learner.link]),
            }
            login = browser.get(peer.login_url())
            if login.status_code != 302:
                raise RuntimeError(f"login answered {login.status_code}: {login.text[:300]}")
            authorized = browser.get(login.headers["location"])
        if authorized.status_code != 200:
            raise RuntimeError(f"the platform's auth answered {authorized.status_code}: {authorized.text[:300]}")
        action, fields = _form_fields(authorized.text)
        launched = browser.post(action, data=fields)
        if launched.status_code == 303:
            launched = browser.get(launched.headers["location"])
        if launched.status_code != 200:
            raise RuntimeError(f"the launch answered {launched.status_code}: {launched.text[:300]}")
        learner.token = _launch_token(launched.text)

    def submit(self, browser: httpx.Client, learner: Learner, answers: Sequence[int]) -> None:
        """One attempt, as the quiz page's htmx form posts it."""
        data = {f"q{number}": str(option) for number, option in enumerate(answers, start=1)}
        answer = browser.post(self.tool_url + "/lti/quiz/submit", data=data,
                              headers={HEADER: learner.token, "HX-Request": "true"})
        if answer.status_code != 200:
            raise RuntimeError(f"submit answered {answer.status_code}: {answer.text[:300]}")
        learner.attempts += 1

    def make_attempts(self, learners: int, attempts_each: int, *, threads: int = 4, seed: int = 7) -> AttemptFigures:
        """`learners` learners, spread over the links, each launched once and submitting `attempts_each` times in
        a row; `threads` learners at a time."""
        links = sorted(self.link_scopes)
        crowd = [Learner(f"learner-{number:04d}", links[number % len(links)]) for number in range(learners)]
        # The course roster: the gradebook refuses scores of anyone else (422), as Canvas does.
        self.gradebook.add_members(COURSE, *[(learner.user, f"Learner {learner.user}", "learner")
                                             for learner in crowd if learner.user not in self.learner_links])
        self.learner_links.update({learner.user: learner.link for learner in crowd})
        figures = AttemptFigures(learners=learners)
        launch_times: list[float] = []

        def one(learner: Learner) -> None:
            rng = random.Random(f"{seed}:{learner.user}")
            with httpx.Client(timeout=60) as browser:  # each learner is a browser of its own
                started = time.perf_counter()
                try:
                    self.launch(browser, learner)
                    launch_times.append(time.perf_counter() - started)
                    for _ in range(attempts_each):
                        self.submit(browser, learner, [rng.randrange(4) for _ in range(QUIZ_QUESTIONS)])
                except Exception as error:  # noqa: BLE001 - counted and shown, the run goes on
                    figures.failures.append(f"{learner.user}: {error}")

        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, crowd))
        figures.seconds = time.perf_counter() - started
        figures.attempts = sum(learner.attempts for learner in crowd)
        figures.launch_seconds = sum(launch_times) / len(launch_times) if launch_times else 0.0
        return figures

    # -- the outbox, read and (for the SIGKILL scenario) aged ------------------------------------------------
    def jobs(self) -> list[dict[str, Any]]:
        """Every grade job with what the benchmark looks at, in the order they were written."""
        assert self.sessions is not None
        with self.sessions() as session:
            rows = session.scalars(select(GradeJobRow).order_by(GradeJobRow.id)).all()
            return [{"id": row.id, "user": row.user_sub, "timestamp": row.score_timestamp, "score": row.score_given,
                     "state": row.state, "claimed_at": row.claimed_at, "lease_until": row.lease_until,
                     "tries": row.tries, "status": row.last_status, "message": row.last_message} for row in rows]

    def end_leases(self) -> int:
        """End every lease now, as if its 120 s (outbox.LEASE) had gone by; returns how many jobs held one."""
        assert self.sessions is not None
        with self.sessions() as session:
            result = session.execute(update(GradeJobRow).where(GradeJobRow.lease_until.is_not(None))
                                     .values(lease_until=utc_now() - timedelta(seconds=1)))
            session.commit()
            return int(result.rowcount)  # type: ignore[attr-defined]


def _form_fields(page: str) -> tuple[str, dict[str, str]]:
    action = re.search(r'<form[^>]*action="([^"]+)"', page)
    if action is None:
        raise RuntimeError(f"no launch form in the platform's answer: {page[:300]}")
    fields = {html.unescape(name): html.unescape(value)
              for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)}
    return html.unescape(action.group(1)), fields


def _launch_token(page: str) -> str:
    match = re.search(r"hx-headers='([^']+)'", page)
    if match is None:
        raise RuntimeError(f"no launch token in the quiz page: {page[:300]}")
    return str(json.loads(html.unescape(match.group(1)))[HEADER])
