"""Two hosts of the tool (two `marketplace serve` processes, each with its own data folder and index) on one
database: a login on one and its launch on the other, a deployment recorded pending on one and launching on the
other once approved, a score written on one and delivered by the other's worker, a catalog change published
once that both search indexes pick up, and a platform registered dynamically through one and approved on the
other's operator page."""

from __future__ import annotations

import html
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from marketplace.cli import main
from marketplace.settings import Settings
from marketplace.store.database import make_engine, make_session_factory, upgrade_database
from marketplace.store.registrations import ACTIVE, PENDING, list_platforms
from tests.grading.gradebook_peer import GradebookPeer
from tests.lti.catalog_extras import write_extra_resources
from tests.lti.peer import LEARNER, PlatformPeer, form_fields, register_peer
from tests.lti.servers import reserved_socket, running_server, serving, unused_port, url_of
from tests.lti.test_dynamic_registration import FakePlatform

CUSTOM = "https://purl.imsglobal.org/spec/lti/claim/custom"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
TOOL_PLATFORM = "https://purl.imsglobal.org/spec/lti/claim/tool_platform"
HEADER = "X-Launch-Token"
ADMIN_SECRET = "operator-secret-" + "x" * 24


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 45.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


@contextmanager
def host(name: str, folder: Path, env: dict[str, str], port: int) -> Iterator[str]:
    """One `marketplace serve` process; its log is shown if the test fails while it runs."""
    log_path = folder / f"{name}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "-m", "marketplace.cli", "serve", "--port", str(port)],
                                   env=env, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    base = f"http://127.0.0.1:{port}"
    try:
        def ready() -> bool:
            assert process.poll() is None, log_path.read_text()[-3000:]
            try:
                return httpx.get(base + "/readyz", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(ready, f"{name} to be ready")
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def search_finds(base: str, words: str, resource_id: str) -> bool:
    body = httpx.get(base + "/api/catalog/search", params={"q": words}, timeout=10).json()
    return resource_id in {hit["id"] for hit in body["results"]}


def launch(browser: httpx.Client, peer: PlatformPeer, login_at: str, launch_at: str) -> httpx.Response:
    """Login at one host; the platform posts the launch to the other (a load balancer's choice)."""
    browser.cookies.clear()
    login = browser.get(peer.login_url().replace(peer.tool_base_url, login_at))
    assert login.status_code == 302, login.text[:300]
    authorized = browser.get(login.headers["location"])
    assert authorized.status_code == 200, authorized.text[:300]
    _, fields = form_fields(authorized.text)
    launched = browser.post(launch_at + "/lti/launch", data=fields)
    if launched.status_code != 303:
        return launched
    return browser.get(launched.headers["location"].replace(peer.tool_base_url, launch_at))


def token_of(page: str) -> str:
    match = re.search(r'"X-Launch-Token":\s*"([^"]+)"', html.unescape(page))
    assert match, page[:500]
    return match.group(1)


def test_two_hosts_share_launches_deployments_grades_and_the_catalog(database_url: str, settings: Settings,
                                                                      tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    content = settings.content_dir
    write_extra_resources(content)
    port_a, port_b = unused_port(), unused_port()
    base_a = f"http://127.0.0.1:{port_a}"
    common = {**os.environ, "MARKETPLACE_DATABASE_URL": database_url, "MARKETPLACE_CONTENT_DIR": str(content),
              "MARKETPLACE_SECRET_KEY": settings.secret_key, "MARKETPLACE_ENV": "development",
              "MARKETPLACE_BASE_URL": base_a, "MARKETPLACE_CATALOG_CHECK_SECONDS": "1",
              "MARKETPLACE_LOG_FORMAT": "text", "MARKETPLACE_THUMBNAIL_FETCH": "0",
              "MARKETPLACE_ADMIN_TOKEN": ADMIN_SECRET}
    for variable, value in common.items():
        if variable.startswith("MARKETPLACE_"):
            monkeypatch.setenv(variable, value)
    monkeypatch.setenv("MARKETPLACE_DATA_DIR", str(tmp_path / "publisher"))
    upgrade_database(database_url)
    published = CliRunner().invoke(main, ["catalog", "publish"])
    assert published.exit_code == 0, published.output
    assert not (tmp_path / "publisher" / "index").exists()  # publishing builds no index

    with ExitStack() as stack:
        peer_socket = stack.enter_context(reserved_socket())
        peer_url = url_of(peer_socket)
        peer = PlatformPeer(peer_url, base_a)
        gradebook = GradebookPeer(peer, base_a)
        peer.services = gradebook.app()
        engine = make_engine(database_url)
        stack.callback(engine.dispose)
        sessions = make_session_factory(engine)
        register_peer(sessions, peer)
        stack.enter_context(serving(peer.app(), peer_socket))
        folders = {name: tmp_path / name for name in ("a", "b")}
        for folder in folders.values():
            folder.mkdir()
        # Host A serves pages only; host B also runs the grade worker (as a dedicated host might).
        a = stack.enter_context(host("a", folders["a"], {**common, "MARKETPLACE_DATA_DIR": str(folders["a"] / "var"),
                                                         "MARKETPLACE_GRADE_WORKER": "0"}, port_a))
        b = stack.enter_context(host("b", folders["b"], {**common, "MARKETPLACE_DATA_DIR": str(folders["b"] / "var"),
                                                         "MARKETPLACE_GRADE_WORKER": "1"}, port_b))
        # Each host built its own index from the database (no shared folder).
        assert search_finds(a, "leaf quiz", "leaf-quiz") and search_finds(b, "leaf quiz", "leaf-quiz")
        browser = stack.enter_context(httpx.Client(timeout=20))

        # A login on A, its launch on B: the state A stored is B's to check; the token B issues works on A.
        peer.user_id, peer.roles = "ada", [LEARNER]
        peer.extra_claims = {CUSTOM: {"resource_id": "leaf-quiz"}, AGS_CLAIM: gradebook.ags_claim("course-1"),
                             TOOL_PLATFORM: {"product_family_code": "canvas", "guid": "loopback"}}
        page = launch(browser, peer, a, b)
        assert page.status_code == 200 and "Submit answers" in page.text, page.text[:500]
        token = token_of(page.text)
        whoami = browser.get(a + "/lti/whoami", headers={HEADER: token})
        assert whoami.status_code == 200 and "ada" in whoami.text

        # A score submitted on A (no worker there) is delivered by B's worker.
        answer = browser.post(a + "/lti/quiz/submit", data={"q1": "0"}, headers={HEADER: token, "HX-Request": "true"})
        assert "Score: 2 / 2" in answer.text
        wait_for(lambda: [score["userId"] for score in gradebook.scores] == ["ada"], "B to deliver A's score")

        # A deployment first seen on B waits as pending; approved once, it launches on A.
        peer.deployment_id = "dep-2"
        refused = launch(browser, peer, b, b)
        assert refused.status_code == 403 and refused.headers.get("x-lti-check") == "pending_deployment"
        approved = CliRunner().invoke(main, ["deployment", "approve", "--issuer", peer_url, "--client-id",
                                             peer.client_id, "--deployment-id", "dep-2"])
        assert approved.exit_code == 0, approved.output
        assert launch(browser, peer, a, a).status_code == 200

        # A catalog change published once reaches both hosts' indexes.
        (content / "resources" / "biology" / "zebrafish-fins.toml").write_text(
            (content / "resources" / "biology" / "leaf-quiz.toml").read_text()
            .replace('id = "leaf-quiz"', 'id = "zebrafish-fins"')
            .replace("Leaf quiz resource", "Zebrafish fin regeneration"))
        published = CliRunner().invoke(main, ["catalog", "publish"])
        assert published.exit_code == 0, published.output
        started = time.monotonic()
        wait_for(lambda: search_finds(a, "zebrafish", "zebrafish-fins") and search_finds(b, "zebrafish",
                                                                                         "zebrafish-fins"),
                 "both hosts to index the new resource")
        assert time.monotonic() - started < 60

        # A platform registered dynamically through A waits for approval on B's operator page; approved there,
        # it is active for both.
        newcomer = FakePlatform(token="", client_id="20000000000001")
        stack.enter_context(running_server(newcomer.app))
        registered = browser.get(a + "/lti/register", params={"openid_configuration": newcomer.configuration_url})
        assert registered.status_code == 200, registered.text[:500]
        with sessions() as session:
            (row,) = [row for row in list_platforms(session) if row.issuer == newcomer.url]
            platform_id, platform_name, status = row.id, row.name, row.status
        assert status == PENDING
        operator = stack.enter_context(httpx.Client(base_url=b, timeout=20))
        assert operator.post("/admin/sign-in", data={"secret": ADMIN_SECRET}).status_code == 303
        page = html.unescape(operator.get("/admin").text)
        assert f"Approve {platform_name}" in page
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf, page[:500]
        approved_there = operator.post(f"/admin/platforms/{platform_id}/approve", data={"csrf": csrf.group(1)})
        assert approved_there.status_code in (200, 303), approved_there.text[:500]
        with sessions() as session:
            assert [row.status for row in list_platforms(session) if row.issuer == newcomer.url] == [ACTIVE]
