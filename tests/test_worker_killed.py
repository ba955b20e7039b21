"""Workers killed (SIGKILL) in the middle of requests: learners submitting quiz attempts (every stored attempt has
its grade job, every score a learner saw is stored), students handing in portfolio items (every answer a browser
got is stored), and a dynamic registration waiting on the platform (nothing half-stored; done again, it
completes). The supervisor replaces the dead workers, and a request that died is answered when tried again."""

from __future__ import annotations

import asyncio
import html
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response

from marketplace.settings import Settings
from marketplace.store.database import make_engine, make_session_factory, upgrade_database
from marketplace.store.models import GradeJobRow, LaunchRow, PortfolioSubmissionRow, QuizAttemptRow
from marketplace.store.registrations import PENDING, list_platforms
from tests.grading.gradebook_peer import GradebookPeer
from tests.lti.catalog_extras import write_extra_resources
from tests.lti.peer import DL_SETTINGS, LEARNER, PlatformPeer, register_peer
from tests.lti.servers import reserved_socket, running_server, serving, unused_port, url_of
from tests.lti.test_dynamic_registration import FakePlatform
from tests.test_two_hosts import AGS_CLAIM, CUSTOM, HEADER, TOOL_PLATFORM, launch, token_of

LEARNERS = 16
SUBMISSIONS = 64  # four attempts each, eight at a time
STUDENTS = 24
FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "canvas-deep-linking.json").read_text())
HOMEWORK = FIXTURE["deep_linking_settings_by_placement"]["homework_submission"]
PLACEMENT = "https://www.instructure.com/placement"


def worker_pids(supervisor: int) -> set[int]:
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children")
    pids = {int(pid) for pid in children.read_text().split()} if children.exists() else set()
    # Only the uvicorn workers (the multiprocessing resource tracker is a child too), and only living ones: a
    # worker killed by the drill can still be listed and be gone by the time its command line is read.
    return {pid for pid in pids if (command := _command_line(pid)) is not None and b"resource_tracker" not in command}


def _command_line(pid: int) -> bytes | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None


def counts(sessions: object) -> tuple[int, int, int]:
    with sessions() as session:  # type: ignore[operator]
        attempts = session.scalar(select(func.count()).select_from(QuizAttemptRow)) or 0
        jobs = session.scalar(select(func.count()).select_from(GradeJobRow)) or 0
        orphans = session.scalar(select(func.count()).select_from(QuizAttemptRow).where(
            ~QuizAttemptRow.id.in_(select(GradeJobRow.attempt_id)))) or 0
        return int(attempts), int(jobs), int(orphans)


@dataclass
class Served:
    """The tool served by `marketplace serve --workers 2` (its own process) beside a loopback platform peer."""

    base: str
    server: subprocess.Popen[bytes]
    peer: PlatformPeer
    gradebook: GradebookPeer
    sessions: Any

    def wait_for_workers(self, killed: int | None = None) -> None:
        deadline = time.monotonic() + 60
        while (killed in worker_pids(self.server.pid) or len(worker_pids(self.server.pid)) < 2
               or not _ready(self.base)):
            assert self.server.poll() is None and time.monotonic() < deadline, "the workers did not come up"
            time.sleep(0.2)


@contextmanager
def served(database_url: str, settings: Settings, tmp_path: Path) -> Iterator[Served]:
    write_extra_resources(settings.content_dir)
    upgrade_database(database_url)
    with ExitStack() as stack:
        peer_socket = stack.enter_context(reserved_socket())
        peer_url = url_of(peer_socket)
        port = unused_port()
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
        tool = Served(base, server, peer, gradebook, sessions)
        try:
            tool.wait_for_workers()
        except AssertionError:
            raise AssertionError((tmp_path / "serve.log").read_text()[-4000:]) from None
        yield tool


def test_a_killed_worker_loses_no_grade_job(database_url: str, settings: Settings, tmp_path: Path) -> None:
    with ExitStack() as stack:
        tool = stack.enter_context(served(database_url, settings, tmp_path))
        base, server, peer, gradebook, sessions = tool.base, tool.server, tool.peer, tool.gradebook, tool.sessions
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
        tool.wait_for_workers(killed=victims[0])  # the supervisor replaces the killed worker
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


def picker_token(page: str) -> str:
    match = re.search(r'name="launch_token" value="([^"]+)"', page)
    assert match, page[:500]
    return html.unescape(match.group(1))


def test_a_killed_worker_loses_no_portfolio_submission(database_url: str, settings: Settings,
                                                       tmp_path: Path) -> None:
    """Students hand in portfolio items while a worker is killed: every student whose browser got the signed
    answer (so the LMS may hold the submission) has the submission stored with it, and the students whose
    request died get the same kind of answer when they press the button again."""
    with ExitStack() as stack:
        tool = stack.enter_context(served(database_url, settings, tmp_path))
        peer, base = tool.peer, tool.base
        browser = stack.enter_context(httpx.Client(timeout=20))
        picks: list[tuple[str, str]] = []  # (launch token, portfolio item id) per student
        for number in range(STUDENTS):
            peer.user_id, peer.roles = f"student-{number}", [LEARNER]
            peer.message_type = "LtiDeepLinkingRequest"
            peer.extra_claims = {DL_SETTINGS: {**HOMEWORK, "deep_link_return_url": peer.issuer + "/return"},
                                 PLACEMENT: "homework_submission"}
            page = launch(browser, peer, base, base)
            assert page.status_code == 200, page.text[:300]
            token = picker_token(page.text)
            added = browser.post(base + "/lti/portfolio/items", headers={HEADER: token, "HX-Request": "true"},
                                 data={"title": f"Essay {number}", "note": "Photosynthesis needs light."},
                                 files={"file": ("", b"", "application/octet-stream")})
            assert added.status_code == 200, added.text[:300]
            item = re.search(r'name="portfolio_item" value="([^"]+)"[^>]*checked', added.text)
            assert item, added.text[:500]
            picks.append((token, item.group(1)))

        told: list[int] = []
        died: list[int] = []
        lock = threading.Lock()

        def hand_in(number: int) -> None:
            token, item_id = picks[number]
            try:
                with httpx.Client(timeout=20) as client:
                    answer = client.post(base + "/lti/deep-linking/respond",
                                         data={"launch_token": token, "portfolio_item": item_id,
                                               "portfolio_as": "link"})
                ok = answer.status_code == 200 and 'name="JWT"' in answer.text
            except httpx.TransportError:
                ok = False
            with lock:
                (told if ok else died).append(number)
            first_answer.set()

        first_answer = threading.Event()
        victims = sorted(worker_pids(tool.server.pid))
        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(hand_in, number) for number in range(STUDENTS)]
            first_answer.wait(30)  # the hand-ins are under way: kill a worker in the middle of them
            os.kill(victims[0], signal.SIGKILL)
            for future in futures:
                future.result()

        def handed_in() -> set[str]:
            with tool.sessions() as session:
                return set(session.scalars(select(PortfolioSubmissionRow.item_id)))

        assert {picks[number][1] for number in told} <= handed_in()  # every answer a browser got is stored
        tool.wait_for_workers(killed=victims[0])
        retried = list(died)
        died.clear()
        for number in retried:
            hand_in(number)
        assert died == [] and len(told) == STUDENTS
        assert handed_in() == {item_id for _, item_id in picks}
        with tool.sessions() as session:  # each launch keeps the answer it sent, for a second press
            answered = session.scalars(select(LaunchRow.response_items).where(
                LaunchRow.message_type == "LtiDeepLinkingRequest")).all()
        assert len(answered) == STUDENTS and all(answered)


class HeldPlatform(FakePlatform):
    """A platform whose registration endpoint holds the tool's request until the test lets it answer."""

    def __init__(self) -> None:
        super().__init__(token="")
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.hold = True

    async def register(self, request: Request) -> Response:
        await request.body()  # received whole (and kept by the request) before the platform stalls
        if self.hold:
            self.arrived.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
        return await super().register(request)


def test_a_worker_killed_during_a_registration_leaves_it_to_be_done_again(database_url: str, settings: Settings,
                                                                         tmp_path: Path) -> None:
    """Both workers killed while the platform has the tool's registration request: nothing half-stored blocks
    the administrator, who starts the registration again; it completes and waits for approval."""
    platform = HeldPlatform()
    with ExitStack() as stack:
        stack.enter_context(running_server(platform.app))
        tool = stack.enter_context(served(database_url, settings, tmp_path))
        params = {"openid_configuration": platform.configuration_url}
        outcome: list[object] = []

        def register() -> None:
            try:
                outcome.append(httpx.get(tool.base + "/lti/register", params=params, timeout=30).status_code)
            except httpx.TransportError as error:
                outcome.append(error)

        first = threading.Thread(target=register)
        first.start()
        assert platform.arrived.wait(30), "the registration never reached the platform"
        victims = worker_pids(tool.server.pid)
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        platform.release.set()  # the platform answers into a closed connection
        first.join(30)
        assert len(outcome) == 1 and not (isinstance(outcome[0], int) and outcome[0] < 500), outcome

        def registered() -> list[tuple[str, str]]:
            with tool.sessions() as session:
                return [(row.client_id, row.status) for row in list_platforms(session) if row.issuer == platform.url]

        assert registered() == []  # the lost answer left nothing behind
        for victim in victims:
            tool.wait_for_workers(killed=victim)
        platform.hold, platform.client_id = False, "10000000000002"  # the platform makes a new key for the retry
        again = httpx.get(tool.base + "/lti/register", params=params, timeout=30)
        assert again.status_code == 200, again.text[:500]
        assert registered() == [("10000000000002", PENDING)]
        assert len(platform.registrations) == 2
