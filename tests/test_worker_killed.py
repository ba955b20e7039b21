"""A worker process killed (SIGKILL) while learners submit quiz attempts: every attempt that was stored has its
grade job (they commit together), every attempt a learner was told about is stored, the supervisor replaces the
dead worker, and the learners whose request died get an answer when they try again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
from sqlalchemy import func, select

from marketplace.settings import Settings
from marketplace.store.database import make_engine, make_session_factory, upgrade_database
from marketplace.store.models import GradeJobRow, QuizAttemptRow
from tests.grading.gradebook_peer import GradebookPeer
from tests.lti.catalog_extras import write_extra_resources
from tests.lti.peer import LEARNER, PlatformPeer, register_peer
from tests.lti.servers import reserved_socket, serving, url_of
from tests.test_two_hosts import AGS_CLAIM, CUSTOM, HEADER, TOOL_PLATFORM, launch, token_of

LEARNERS = 16
SUBMISSIONS = 64  # four attempts each, eight at a time


def worker_pids(supervisor: int) -> set[int]:
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children")
    pids = {int(pid) for pid in children.read_text().split()} if children.exists() else set()
    # Only the uvicorn workers (the multiprocessing resource tracker is a child too).
    return {pid for pid in pids if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()}


def counts(sessions: object) -> tuple[int, int, int]:
    with sessions() as session:  # type: ignore[operator]
        attempts = session.scalar(select(func.count()).select_from(QuizAttemptRow)) or 0
        jobs = session.scalar(select(func.count()).select_from(GradeJobRow)) or 0
        orphans = session.scalar(select(func.count()).select_from(QuizAttemptRow).where(
            ~QuizAttemptRow.id.in_(select(GradeJobRow.attempt_id)))) or 0
        return int(attempts), int(jobs), int(orphans)


def test_a_killed_worker_loses_no_grade_job(database_url: str, settings: Settings, tmp_path: Path) -> None:
    write_extra_resources(settings.content_dir)
    upgrade_database(database_url)
    with ExitStack() as stack:
        peer_socket = stack.enter_context(reserved_socket())
        peer_url = url_of(peer_socket)
        probe = reserved_socket()
        port = probe.getsockname()[1]
        probe.close()
        base = f"http://127.0.0.1:{port}"
        peer = PlatformPeer(peer_url, base)
        gradebook = GradebookPeer(peer, base)
        peer.services = gradebook.app()
        engine = make_engine(database_url)
        stack.callback(engine.dispose)
        sessions = make_session_factory(engine)
        register_peer(sessions, peer)
        stack.enter_context(serving(peer.app(), peer_socket))
        env = {**os.environ, "MARKETPLACE_DATABASE_URL": database_url, "MARKETPLACE_DATA_DIR": str(tmp_path / "var"),
               "MARKETPLACE_CONTENT_DIR": str(settings.content_dir), "MARKETPLACE_SECRET_KEY": settings.secret_key,
               "MARKETPLACE_ENV": "development", "MARKETPLACE_BASE_URL": base, "MARKETPLACE_GRADE_WORKER": "0",
               "MARKETPLACE_LOG_FORMAT": "text", "MARKETPLACE_THUMBNAIL_FETCH": "0"}
        subprocess.run([sys.executable, "-m", "marketplace.cli", "index"], env=env, cwd=tmp_path, check=True,
                       capture_output=True)
        log = stack.enter_context((tmp_path / "serve.log").open("w"))
        server = subprocess.Popen([sys.executable, "-m", "marketplace.cli", "serve", "--port", str(port),
                                   "--workers", "2"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
        stack.callback(server.wait, 30)
        stack.callback(server.send_signal, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while len(worker_pids(server.pid)) < 2 or not _ready(base):
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)

        tokens = []
        browser = stack.enter_context(httpx.Client(timeout=20))
        for number in range(LEARNERS):
            peer.user_id, peer.roles = f"learner-{number}", [LEARNER]
            peer.extra_claims = {CUSTOM: {"resource_id": "leaf-quiz"}, AGS_CLAIM: gradebook.ags_claim("course-1"),
                                 TOOL_PLATFORM: {"product_family_code": "canvas", "guid": "loopback"}}
            page = launch(browser, peer, base, base)
            assert page.status_code == 200, page.text[:300]
            tokens.append(token_of(page.text))

        told: list[int] = []  # submissions whose learner was told the score
        died: list[int] = []  # submissions that got no answer (their worker died under them)
        lock = threading.Lock()

        def submit(number: int) -> None:
            try:
                with httpx.Client(timeout=20) as client:  # a connection of its own: spread over both workers
                    answer = client.post(base + "/lti/quiz/submit", data={"q1": "0"},
                                         headers={HEADER: tokens[number % LEARNERS], "HX-Request": "true"})
                ok = answer.status_code == 200 and "Score: 2 / 2" in answer.text
            except httpx.TransportError:
                ok = False
            with lock:
                (told if ok else died).append(number)

        victims = sorted(worker_pids(server.pid))
        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(submit, number) for number in range(SUBMISSIONS)]
            time.sleep(0.1)
            os.kill(victims[0], signal.SIGKILL)  # in the middle of the submissions
            for future in futures:
                future.result()

        attempts, jobs, orphans = counts(sessions)
        assert orphans == 0 and attempts == jobs  # an attempt is never stored without its grade job
        assert len(told) <= attempts <= SUBMISSIONS  # every score a learner saw is stored
        deadline = time.monotonic() + 30
        while victims[0] in worker_pids(server.pid) or len(worker_pids(server.pid)) < 2:
            assert time.monotonic() < deadline, "the supervisor did not replace the killed worker"
            time.sleep(0.2)
        retried = list(died)
        died.clear()
        for number in retried:  # the learner tries again, and is answered
            submit(number)
        assert died == [] and len(told) == SUBMISSIONS
        attempts, jobs, orphans = counts(sessions)
        assert orphans == 0 and attempts == jobs and attempts >= SUBMISSIONS


def _ready(base: str) -> bool:
    try:
        return httpx.get(base + "/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False
