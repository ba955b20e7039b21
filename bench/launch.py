"""End-to-end deep-linking round trips: `marketplace serve --workers N` against the loopback platform.

One round trip is what an instructor's browser does from the editor button to the item in the editor:
login initiation at the tool (302 to the platform), the platform's auth (an RS256 id_token in a form), the
launch POST (signature validation, 303 with a handoff code), the picker page, one search, the response (a
signed JWT in an auto-posting form) and its delivery to the platform's return URL, where the platform verifies
the signature. The bench prints round trips per second and the round trip's p50/p95/p99 at each number of
concurrent users, the RSA work alone measured in the same run (the floor: one verify by the tool, one sign by
the tool, one sign and one verify by the platform), and the ratio of the two. It also prints how much CPU the
tool's processes spent per round trip, so the platform and the client (both in this process) are set apart,
and the CPU this process spent per round trip: on one machine both share its cores, so the round trips per
second are bounded by the sum of the two, not by the tool's share alone.

    .venv/bin/python -m bench.launch                          # SQLite, 2 workers, 1/10/50 users, 20 s each
    .venv/bin/python -m bench.launch --database-url postgresql+psycopg://postgres@127.0.0.1:54330/postgres
    .venv/bin/python -m bench.launch --users 1 10 --seconds 10 --workers 1

Targets (issue 15): >= 300 round trips per second with 2 workers on this 2-core machine, p95 <= 50 ms at 10
users, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import os
import re
import statistics
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from bench import this_checkout_first
from bench.grades_env import BenchPeer
from marketplace.store.database import make_engine, make_session_factory
from marketplace.store.registrations import add_deployment, add_platform
from tests.lti.peer import DL_SETTINGS, INSTRUCTOR
from tests.lti.servers import reserved_socket, serving, unused_port, url_of

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = "launch-bench-" + "k" * 40
QUERIES = ("photosynthesis", "fractions", "solar system", "french revolution", "cells", "poetry", "algebra",
           "volcanoes", "shakespeare", "climate")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# -- the platform: the test suite's peer, answering deep-linking launches and receiving the responses ----------
class Receiver:
    """The platform's return URL: verifies each response JWT with the tool's published key, as Canvas does."""

    def __init__(self, tool_url: str, client_id: str) -> None:
        self.tool_url = tool_url
        self.client_id = client_id
        self.keys: dict[str, Any] = {}
        self.received = 0
        self.problems: list[str] = []

    def _key(self, kid: str) -> Any:
        if kid not in self.keys:
            jwks = httpx.get(self.tool_url + "/lti/jwks", timeout=10).json()
            self.keys = {entry["kid"]: jwt.PyJWK(entry).key for entry in jwks["keys"]}
        return self.keys[kid]

    async def receive(self, request: Request) -> Response:
        token = str((await request.form()).get("JWT", ""))
        try:
            key = self._key(jwt.get_unverified_header(token)["kid"])
            body = jwt.decode(token, key, algorithms=["RS256"], audience=None, options={"verify_aud": False})
            if body.get("iss") != self.client_id or not body.get(
                    "https://purl.imsglobal.org/spec/lti-dl/claim/content_items"):
                raise ValueError("wrong issuer or no content items")
        except Exception as error:  # noqa: BLE001 - counted and shown
            self.problems.append(f"{type(error).__name__}: {error}")
            return JSONResponse({"error": str(error)}, status_code=400)
        self.received += 1
        return JSONResponse({"ok": True})


def platform_app(peer: BenchPeer, receiver: Receiver) -> Starlette:
    return Starlette(routes=[Route("/return", receiver.receive, methods=["POST"]), Mount("/", peer.app())])


# -- the database and the tool ---------------------------------------------------------------------------------
def fresh_database(base: str | None, workdir: Path, stack: ExitStack) -> str:
    if not base:
        return f"sqlite:///{workdir / 'marketplace.sqlite3'}"
    if make_url(base).get_backend_name() != "postgresql":
        raise SystemExit("--database-url must be a PostgreSQL URL (SQLite is the default)")
    name = f"bench_launch_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    stack.callback(drop)
    return make_url(base).set(database=name).render_as_string(hide_password=False)


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU of these processes so far (from /proc)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def tool_pids(parent: int) -> list[int]:
    children = Path(f"/proc/{parent}/task/{parent}/children")
    found = [parent]
    if children.exists():
        for child in children.read_text().split():
            found.extend(tool_pids(int(child)))
    return found


# -- one round trip --------------------------------------------------------------------------------------------
@dataclass
class Figures:
    users: int
    seconds: float = 0.0
    round_trips: list[float] = field(default_factory=list)
    steps: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    tool_cpu: float = 0.0
    bench_cpu: float = 0.0  # this process: the clients and the platform, on the same cores as the tool

    def step(self, name: str, seconds: float) -> None:
        self.steps.setdefault(name, []).append(seconds)


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def round_trip(client: httpx.AsyncClient, peer: BenchPeer, tool: str, query: str, figures: Figures) -> None:
    async def timed(name: str, call: Any) -> httpx.Response:
        started = time.perf_counter()
        response: httpx.Response = await call
        figures.step(name, time.perf_counter() - started)
        return response

    client.cookies.clear()
    login = await timed("login", client.get(peer.login_url()))
    if login.status_code != 302:
        raise RuntimeError(f"login {login.status_code}")
    authorized = await timed("platform auth", client.get(login.headers["location"]))
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', authorized.text))
    fields = {name: html.unescape(value) for name, value in fields.items()}
    launched = await timed("launch", client.post(tool + "/lti/launch", data=fields))
    if launched.status_code != 303:
        raise RuntimeError(f"launch {launched.status_code}: {launched.text[:200]}")
    picker = await timed("picker page", client.get(launched.headers["location"]))
    token = re.search(r'name="launch_token" value="([^"]+)"', picker.text)
    if picker.status_code != 200 or token is None:
        raise RuntimeError(f"picker {picker.status_code}")
    launch_token = html.unescape(token.group(1))
    results = await timed("search", client.get(tool + "/lti/picker/results", params={"q": query},
                                               headers={"X-Launch-Token": launch_token, "HX-Request": "true"}))
    picked = re.search(r'name="resource" value="([^"]+)"', results.text)
    if results.status_code != 200 or picked is None:
        raise RuntimeError(f"search {results.status_code}")
    answer = await timed("respond", client.post(tool + "/lti/deep-linking/respond",
                                                data={"launch_token": launch_token, "resource": picked.group(1)}))
    action = re.search(r'<form id="deep-link-return"[^>]*action="([^"]+)"', answer.text)
    signed = re.search(r'name="JWT" value="([^"]+)"', answer.text)
    if answer.status_code != 200 or action is None or signed is None:
        raise RuntimeError(f"respond {answer.status_code}: {answer.text[:200]}")
    returned = await timed("platform return", client.post(html.unescape(action.group(1)),
                                                          data={"JWT": html.unescape(signed.group(1))}))
    if returned.status_code != 200:
        raise RuntimeError(f"return {returned.status_code}: {returned.text[:200]}")


async def run_users(users: int, seconds: float, peer: BenchPeer, tool: str, pids: list[int]) -> Figures:
    figures = Figures(users)
    deadline = time.perf_counter() + seconds

    async def user(number: int) -> None:
        async with httpx.AsyncClient(timeout=30, follow_redirects=False) as client:
            turn = number
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    await round_trip(client, peer, tool, QUERIES[turn % len(QUERIES)], figures)
                    figures.round_trips.append(time.perf_counter() - started)
                except Exception as error:  # noqa: BLE001 - counted and shown
                    figures.errors.append(str(error))
                turn += users

    cpu_before, own_before = cpu_seconds(pids), time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(user(number) for number in range(users)))
    figures.seconds = time.perf_counter() - started
    figures.tool_cpu = cpu_seconds(pids) - cpu_before
    figures.bench_cpu = time.process_time() - own_before
    return figures


# -- the RSA floor ---------------------------------------------------------------------------------------------
def rsa_floor(rounds: int = 300) -> tuple[float, float]:
    """Median seconds to sign and to verify one RS256 JWT of a launch's size with a loaded 2048-bit key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key()
    claims = {"iss": "https://platform.example", "aud": "client", "sub": "user", "nonce": uuid.uuid4().hex,
              "exp": int(time.time()) + 300, "iat": int(time.time()), "x": "y" * 1500}
    signs, verifies = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        token = jwt.encode(claims, key, algorithm="RS256")
        signs.append(time.perf_counter() - started)
        started = time.perf_counter()
        jwt.decode(token, public, algorithms=["RS256"], audience="client")
        verifies.append(time.perf_counter() - started)
    return statistics.median(signs), statistics.median(verifies)


# -- the run -----------------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=None, help="a PostgreSQL URL (default: SQLite in a temp folder)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--users", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--seconds", type=float, default=20.0, help="measured time per number of users")
    args = parser.parse_args()
    import subprocess
    import sys

    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-launch-")))
        database_url = fresh_database(args.database_url, workdir, stack)
        peer_socket = reserved_socket()
        tool_port = unused_port()  # `marketplace serve` binds it itself
        tool_url, peer_url = f"http://127.0.0.1:{tool_port}", url_of(peer_socket)
        env = {**this_checkout_first(os.environ), "MARKETPLACE_DATA_DIR": str(workdir / "var"),
               "MARKETPLACE_DATABASE_URL": database_url,
               "MARKETPLACE_CONTENT_DIR": str(ROOT / "content"), "MARKETPLACE_BASE_URL": tool_url,
               "MARKETPLACE_SECRET_KEY": SECRET_KEY, "MARKETPLACE_ENV": "test", "MARKETPLACE_LOG_LEVEL": "WARNING",
               "MARKETPLACE_THUMBNAIL_FETCH": "0", "MARKETPLACE_GRADE_WORKER": "0"}
        for command in (["db", "upgrade"], ["index"]):
            subprocess.run([sys.executable, "-m", "marketplace.cli", *command], env=env, cwd=workdir, check=True,
                           capture_output=True)
        peer = BenchPeer(peer_url, tool_url)
        peer.user_id, peer.roles, peer.message_type = "teacher-1", [INSTRUCTOR], "LtiDeepLinkingRequest"
        peer.extra_claims = {DL_SETTINGS: {"deep_link_return_url": peer_url + "/return",
                                           "accept_types": ["ltiResourceLink"], "accept_multiple": True,
                                           "accept_presentation_document_targets": ["iframe", "window"]}}
        engine = make_engine(database_url)
        with make_session_factory(engine)() as session:
            platform = add_platform(session, issuer=peer_url, client_id=peer.client_id, name="Loopback LMS",
                                    auth_login_url=peer_url + "/auth", auth_token_url=peer_url + "/token",
                                    key_set_url=peer_url + "/jwks", allow_http=True)
            add_deployment(session, platform, peer.deployment_id)
            session.commit()
        engine.dispose()
        receiver = Receiver(tool_url, peer.client_id)
        stack.enter_context(serving(platform_app(peer, receiver), peer_socket))
        log = stack.enter_context((workdir / "serve.log").open("wb"))
        server = subprocess.Popen([sys.executable, "-m", "marketplace.cli", "serve", "--port", str(tool_port),
                                   "--workers", str(args.workers)], env=env, cwd=workdir, stdout=log,
                                  stderr=subprocess.STDOUT)
        stack.callback(server.wait, 30)
        stack.callback(server.terminate)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(tool_url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"marketplace serve did not become ready; see {workdir / 'serve.log'}")
            time.sleep(0.2)
        pids = tool_pids(server.pid)
        sign, verify = rsa_floor()
        floor = 2 * sign + 2 * verify
        engine_name = "PostgreSQL" if args.database_url else "SQLite"
        print(f"engine {engine_name}, {args.workers} workers ({len(pids)} tool processes with the supervisor), "
              f"{os.cpu_count()} cores")
        print(f"RSA floor per round trip (2 signs + 2 verifies, loaded 2048-bit keys): {floor * 1000:.2f} ms "
              f"(sign {sign * 1000:.3f} ms, verify {verify * 1000:.3f} ms)")
        asyncio.run(run_users(1, 3.0, peer, tool_url, pids))  # warm-up: caches, pools, JIT-free but cold code
        header = f"{'users':>5} {'trips/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>6} " \
                 f"{'tool CPU ms/trip':>16} {'bench CPU ms/trip':>17} {'p50/floor':>9}"
        print(header)
        for users in args.users:
            figures = asyncio.run(run_users(users, args.seconds, peer, tool_url, pids))
            trips = len(figures.round_trips)
            p50 = quantile(figures.round_trips, 0.5)
            print(f"{users:>5} {trips / figures.seconds:>8.1f} {p50 * 1000:>8.1f} "
                  f"{quantile(figures.round_trips, 0.95) * 1000:>8.1f} "
                  f"{quantile(figures.round_trips, 0.99) * 1000:>8.1f} {len(figures.errors):>6} "
                  f"{figures.tool_cpu * 1000 / max(trips, 1):>16.1f} "
                  f"{figures.bench_cpu * 1000 / max(trips, 1):>17.1f} {p50 / floor:>9.0f}")
            if users == args.users[0] or users == 10:
                steps = ", ".join(f"{name} {statistics.median(values) * 1000:.1f}"
                                  for name, values in figures.steps.items())
                print(f"      median per step at {users} users (ms): {steps}")
            if figures.errors:
                print(f"      first error: {figures.errors[0][:200]}")
                logged = [line for line in (workdir / "serve.log").read_text(errors="replace").splitlines()
                          if '"level": "ERROR"' in line or "Error" in line]
                print("      server log: " + "\n      ".join(line[-700:] for line in logged[:2]))
        if receiver.problems:
            print(f"platform refused {len(receiver.problems)} responses; first: {receiver.problems[0]}")


if __name__ == "__main__":
    main()
