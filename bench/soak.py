"""The soak: simulated users doing everything the product does, for minutes, against `marketplace serve`.

Each simulated user loops through the three things people do with the tool, as their browsers do them:

- a teacher adds a resource: login, launch (deep linking, assignment selection), picker page, a search, the
  selection (the signed response) and its delivery to the platform's return URL, which verifies the signature;
- a student hands in homework: a homework-submission launch, a note added to the portfolio, the note
  submitted (the signed response) and its delivery to the platform;
- a student takes the graded quiz: a launch of the quiz link, the quiz page, the answers (a score, written with
  its grade job), which the grade worker then posts to the platform's gradebook over AGS.

The platform is the test suite's strict loopback peer (bench/grades_env.py) with its gradebook; the tool runs
with its grade worker on, under `--workers N`. At the end the bench waits for the outbox to drain and checks
that every score was delivered: no grade job left pending or failed, and the gradebook's newest score for each
learner is the score that learner was last shown (the quizzes use the latest-attempt policy).

Between clicks each person reads the page for a think time (default 1 s, each wait 0.5 to 1.5 times it),
as people do; pages the browser follows by itself (the login redirects, the auto-posted answers) follow at once.
`--think 0` turns the soak into a stress test, where latency only measures the queue.

It prints the tool's page latency (p50/p95/p99, per kind of page and overall), the errors, the pages per second
and the score delivery figures.

    .venv/bin/python -m bench.soak --database-url postgresql+psycopg://postgres@127.0.0.1:54330/postgres
    .venv/bin/python -m bench.soak --users 10 --seconds 20        # SQLite, a short run

Target (issue 15): 50 users for 2 minutes on PostgreSQL with 2 workers: zero errors, p95 page latency
<= 150 ms, every score delivered.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import os
import random
import re
import tempfile
import time
from collections import defaultdict
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from bench.grades_env import (
    AGS_CLAIM,
    COURSE,
    CUSTOM,
    FULL_SCOPES,
    HEADER,
    QUIZ,
    QUIZ_QUESTIONS,
    TOOL_PLATFORM,
    BenchGradebook,
    BenchPeer,
    World,
    scenario_database,
)
from bench.launch import QUERIES, Receiver, quantile
from tests.lti.peer import DL_SETTINGS, INSTRUCTOR, LEARNER

PLACEMENT = "https://www.instructure.com/placement"
QUIZ_LINKS = 5  # the course's quiz links; each learner takes one of them
SCORE = re.compile(r"Score: ([0-9.]+) / ")


class SoakPeer(BenchPeer):
    """The loopback platform, launching many users at once: each login hint (the user) carries its own message.

    The peer issues an id_token from its current user and claims; here `auth` first takes them from the user
    the authorization request names, with no await in between, so concurrent logins never mix."""

    def __init__(self, issuer: str, tool_url: str) -> None:
        super().__init__(issuer, tool_url)
        self.personas: dict[str, tuple[list[str], str, str, dict[str, Any]]] = {}
        self.receiver = Receiver(tool_url, self.client_id)

    def login_for(self, user: str, roles: list[str], message_type: str, link: str, claims: dict[str, Any]) -> str:
        self.personas[user] = (roles, message_type, link, claims)
        self.user_id = user
        return self.login_url()

    async def auth(self, request: Request) -> Response:
        user = request.query_params.get("login_hint", "")
        if user in self.personas:
            self.user_id = user
            self.roles, self.message_type, self.resource_link_id, self.extra_claims = self.personas[user]
        return await super().auth(request)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/return", self.receiver.receive, methods=["POST"]), Mount("/", super().app())])


@dataclass
class Figures:
    pages: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # tool pages by kind
    errors: list[str] = field(default_factory=list)
    flows: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    shown: dict[str, float] = field(default_factory=dict)  # each learner's last score shown
    quizzes: int = 0


class User:
    """One simulated person with a browser of their own (cookies included), teacher and student in turn."""

    def __init__(self, number: int, world: World, peer: SoakPeer, figures: Figures, think: float) -> None:
        self.number = number
        self.think_seconds = think
        self.world = world
        self.peer = peer
        self.figures = figures
        self.tool = world.tool_url
        self.rng = random.Random(number)

    async def think(self) -> None:
        """A person reads the page before the next click (0.5 to 1.5 times the think time)."""
        if self.think_seconds:
            await asyncio.sleep(self.think_seconds * self.rng.uniform(0.5, 1.5))

    async def page(self, client: httpx.AsyncClient, kind: str, method: str, url: str, expect: int,
                   **options: Any) -> httpx.Response:
        started = time.perf_counter()
        response = await client.request(method, url, **options)
        if url.startswith(self.tool):
            self.figures.pages[kind].append(time.perf_counter() - started)
        if response.status_code != expect:
            raise RuntimeError(f"{kind} answered {response.status_code}, not {expect}: {response.text[:200]}")
        return response

    async def launch(self, client: httpx.AsyncClient, user: str, roles: list[str], message_type: str, link: str,
                     claims: dict[str, Any]) -> httpx.Response:
        client.cookies.clear()
        login = await self.page(client, "login", "GET", self.peer.login_for(user, roles, message_type, link, claims),
                                302)
        authorized = await self.page(client, "platform auth", "GET", login.headers["location"], 200)
        fields = {html.unescape(name): html.unescape(value) for name, value in
                  re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', authorized.text)}
        launched = await self.page(client, "launch", "POST", self.tool + "/lti/launch", 303, data=fields)
        return await self.page(client, "app page", "GET", launched.headers["location"], 200)

    async def send_back(self, client: httpx.AsyncClient, answer: httpx.Response) -> None:
        action = re.search(r'<form id="deep-link-return"[^>]*action="([^"]+)"', answer.text)
        signed = re.search(r'name="JWT" value="([^"]+)"', answer.text)
        if action is None or signed is None:
            raise RuntimeError(f"no signed answer in the response page: {answer.text[:200]}")
        await self.page(client, "platform return", "POST", html.unescape(action.group(1)), 200,
                        data={"JWT": html.unescape(signed.group(1))})

    async def teacher_adds_a_resource(self, client: httpx.AsyncClient) -> None:
        settings = {"deep_link_return_url": self.peer.issuer + "/return", "accept_types": ["ltiResourceLink"],
                    "accept_multiple": False, "accept_presentation_document_targets": ["iframe", "window"],
                    "data": f"soak-{self.number}"}
        picker = await self.launch(client, f"teacher-{self.number}", [INSTRUCTOR], "LtiDeepLinkingRequest", "",
                                   {DL_SETTINGS: settings, PLACEMENT: "assignment_selection"})
        token = _launch_token_field(picker.text)
        await self.think()
        results = await self.page(client, "search", "GET", self.tool + "/lti/picker/results", 200,
                                  params={"q": self.rng.choice(QUERIES)},
                                  headers={HEADER: token, "HX-Request": "true"})
        picked = re.search(r'name="resource" value="([^"]+)"', results.text)
        if picked is None:
            raise RuntimeError("the search found nothing to pick")
        await self.think()
        answer = await self.page(client, "select", "POST", self.tool + "/lti/deep-linking/respond", 200,
                                 data={"launch_token": token, "resource": picked.group(1), "points": "10"})
        await self.send_back(client, answer)

    async def student_hands_in_homework(self, client: httpx.AsyncClient) -> None:
        settings = {"deep_link_return_url": self.peer.issuer + "/return", "accept_types": ["file", "ltiResourceLink"],
                    "accept_multiple": False, "accept_presentation_document_targets": ["iframe"],
                    "accept_media_types": "*/*", "auto_create": False}
        picker = await self.launch(client, f"student-{self.number}", [LEARNER], "LtiDeepLinkingRequest", "",
                                   {DL_SETTINGS: settings, PLACEMENT: "homework_submission"})
        token = _launch_token_field(picker.text)
        await self.think()
        added = await self.page(client, "portfolio add", "POST", self.tool + "/lti/portfolio/items", 200,
                                headers={HEADER: token, "HX-Request": "true"},
                                data={"title": f"Essay {self.rng.randrange(10**6)}",
                                      "note": "Plants turn light, water and carbon dioxide into sugar."},
                                files={"file": ("", b"", "application/octet-stream")})
        item = re.search(r'name="portfolio_item" value="([^"]+)"[^>]*checked', added.text)
        if item is None:
            raise RuntimeError("the added note is not offered for submission")
        await self.think()
        answer = await self.page(client, "submit", "POST", self.tool + "/lti/deep-linking/respond", 200,
                                 data={"launch_token": token, "portfolio_item": item.group(1),
                                       "portfolio_as": "link"})
        await self.send_back(client, answer)

    async def student_takes_the_quiz(self, client: httpx.AsyncClient) -> None:
        user = f"student-{self.number}"
        claims = {CUSTOM: {"resource_id": QUIZ, "grade_policy": "latest"},
                  TOOL_PLATFORM: {"product_family_code": "canvas", "guid": "loopback"},
                  AGS_CLAIM: self.world.gradebook.ags_claim(COURSE, scopes=FULL_SCOPES)}
        quiz = await self.launch(client, user, [LEARNER], "LtiResourceLinkRequest",
                                 f"quiz-link-{self.number % QUIZ_LINKS}", claims)
        token = _launch_token_header(quiz.text)
        await self.think()
        answers = {f"q{number}": str(self.rng.randrange(4)) for number in range(1, QUIZ_QUESTIONS + 1)}
        outcome = await self.page(client, "quiz answers", "POST", self.tool + "/lti/quiz/submit", 200,
                                  data=answers, headers={HEADER: token, "HX-Request": "true"})
        score = SCORE.search(outcome.text)
        if score is None:
            raise RuntimeError(f"no score in the quiz outcome: {outcome.text[:200]}")
        self.figures.shown[user] = float(score.group(1))
        self.figures.quizzes += 1

    async def run(self, deadline: float) -> None:
        flows = (self.teacher_adds_a_resource, self.student_hands_in_homework, self.student_takes_the_quiz)
        turn = self.number
        async with httpx.AsyncClient(timeout=60, follow_redirects=False) as client:
            while time.perf_counter() < deadline:
                flow = flows[turn % len(flows)]
                try:
                    await flow(client)
                    self.figures.flows[flow.__name__] += 1
                except Exception as error:  # noqa: BLE001 - counted and shown, the user goes on
                    self.figures.errors.append(f"{flow.__name__}: {type(error).__name__}: {error}")
                turn += 1
                await self.think()


def _launch_token_field(page: str) -> str:
    match = re.search(r'name="launch_token" value="([^"]+)"', page)
    if match is None:
        raise RuntimeError(f"no launch token in the picker: {page[:200]}")
    return html.unescape(match.group(1))


def _launch_token_header(page: str) -> str:
    match = re.search(r'"X-Launch-Token":\s*"([^"]+)"', html.unescape(page))
    if match is None:
        raise RuntimeError(f"no launch token in the quiz page: {page[:200]}")
    return match.group(1)


async def soak(world: World, peer: SoakPeer, users: int, seconds: float, ramp: float,
               think: float) -> tuple[Figures, float]:
    figures = Figures()
    started = time.perf_counter()
    deadline = started + seconds

    async def user(number: int) -> None:
        await asyncio.sleep(ramp * number / users)  # arrivals spread over the ramp, not one burst
        await User(number, world, peer, figures, think).run(deadline)

    await asyncio.gather(*(user(number) for number in range(users)))
    return figures, time.perf_counter() - started


def delivered(world: World, figures: Figures, wait: float) -> tuple[dict[str, int], list[str], float]:
    """Wait for the outbox to drain; the jobs by state, the learners whose newest gradebook score is not the one
    they were last shown, and how long the drain took after the last user stopped."""
    started = time.monotonic()
    while True:
        jobs = world.jobs()
        states: dict[str, int] = defaultdict(int)
        for job in jobs:
            states[job["state"]] += 1
        if not states.get("pending") or time.monotonic() - started > wait:
            break
        time.sleep(0.5)
    drained = time.monotonic() - started
    newest: dict[str, tuple[str, float]] = {}
    for _, user, timestamp, score in world.gradebook.accepted:
        if user not in newest or timestamp > newest[user][0]:
            newest[user] = (timestamp, score)
    wrong = [f"{user}: shown {shown:g}, gradebook {newest.get(user, ('', None))[1]}"
             for user, shown in sorted(figures.shown.items()) if newest.get(user, ("", None))[1] != shown]
    return dict(states), wrong, drained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=None, help="a PostgreSQL URL (default: SQLite in a temp folder)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--ramp", type=float, default=5.0, help="seconds over which the users arrive")
    parser.add_argument("--think", type=float, default=1.0,
                        help="seconds a person reads a page before the next click (0 = a stress test)")
    args = parser.parse_args()

    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-soak-")))
        database_url = stack.enter_context(scenario_database(args.database_url, workdir, "soak", keep=False))
        links = {f"quiz-link-{number}": FULL_SCOPES for number in range(QUIZ_LINKS)}
        world = World(workdir, database_url, grade_worker=True, link_scopes=links, workers=args.workers)
        peer = SoakPeer(world.peer_url, world.tool_url)
        world.peer, world.gradebook = peer, BenchGradebook(peer, world.tool_url)
        peer.services = world.gradebook.app()
        world.gradebook.add_members(COURSE, *[(f"student-{number}", f"Student {number}", "learner")
                                              for number in range(args.users)])
        stack.enter_context(world.running())
        engine = "PostgreSQL" if args.database_url else "SQLite"
        print(f"engine {engine}, {args.workers} workers, {args.users} users for {args.seconds:g} s "
              f"(arriving over {args.ramp:g} s, "
              f"{args.think:g} s to read each page), {os.cpu_count()} cores")
        figures, elapsed = asyncio.run(soak(world, peer, args.users, args.seconds, args.ramp, args.think))
        states, wrong, drained = delivered(world, figures, wait=120.0)

        every = [seconds for values in figures.pages.values() for seconds in values]
        print(f"{len(every)} tool pages in {elapsed:.0f} s ({len(every) / elapsed:.1f} per second); flows done: "
              + ", ".join(f"{name} {count}" for name, count in sorted(figures.flows.items())))
        print(f"{'page':<16} {'count':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
        for kind, values in [*sorted(figures.pages.items()), ("all tool pages", every)]:
            print(f"{kind:<16} {len(values):>6} {quantile(values, 0.5) * 1000:>8.1f} "
                  f"{quantile(values, 0.95) * 1000:>8.1f} {quantile(values, 0.99) * 1000:>8.1f}")
        print(f"errors: {len(figures.errors)}" + (f" (first: {figures.errors[0][:300]})" if figures.errors else ""))
        if peer.receiver.problems:
            print(f"the platform refused {len(peer.receiver.problems)} responses; first: {peer.receiver.problems[0]}")
        print(f"quiz attempts {figures.quizzes}; grade jobs by state {states}; drained {drained:.1f} s after the "
              f"last user stopped; scores accepted by the gradebook {world.gradebook.accepted_count()}")
        print("every score delivered: " + ("yes" if not wrong and not states.get("pending")
                                           and not states.get("failed") else f"NO ({len(wrong)} learners differ; "
                                                                              f"first: {wrong[:3]})"))
        target = quantile(every, 0.95) <= 0.150 and not figures.errors and not wrong
        print(f"target (0 errors, p95 <= 150 ms, every score delivered): {'met' if target else 'NOT met'}")


if __name__ == "__main__":
    main()
