"""Platform key sets (issue 10, findings 6 and 7): refetches limited by time, not by a list of kids ever
tried; known keys keep serving while the platform's key set endpoint is down, up to a bounded age."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from marketplace.lti.platform_keys import CACHE_SECONDS, MAX_STALE_SECONDS, PlatformKeyError, PlatformKeySets
from tests.lti.servers import running_server


def public_jwk(kid: str) -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "alg": "RS256", "use": "sig"}


@dataclass
class KeyServer:
    keys: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    hits: int = 0
    url: str = ""

    async def jwks(self, request: Request) -> Response:
        self.hits += 1
        if self.status != 200:
            return Response("down", status_code=self.status)
        return JSONResponse({"keys": self.keys})

    def app(self, base_url: str) -> Starlette:
        self.url = base_url + "/jwks"
        return Starlette(routes=[Route("/jwks", self.jwks)])


@pytest.fixture
def server() -> Iterator[KeyServer]:
    fake = KeyServer(keys=[public_jwk("2026-12-01")])
    with running_server(fake.app):
        yield fake


@pytest.fixture
def clock() -> list[float]:
    return [1000.0]


@pytest.fixture
def key_sets(clock: list[float]) -> Iterator[PlatformKeySets]:
    with httpx.Client() as http:
        sets = PlatformKeySets(http, min_refetch_interval=5.0)
        sets._now = lambda: clock[0]  # type: ignore[method-assign]
        yield sets


def test_a_kid_first_seen_in_a_forged_token_works_once_the_platform_publishes_it(
        server: KeyServer, key_sets: PlatformKeySets, clock: list[float]) -> None:
    key_sets.key(server.url, "2026-12-01")
    clock[0] += 10
    with pytest.raises(PlatformKeyError):
        key_sets.key(server.url, "2027-01-01")  # forged: the platform has no such key yet
    server.keys.append(public_jwk("2027-01-01"))  # the platform's real rotation, later
    clock[0] += 10
    assert key_sets.key(server.url, "2027-01-01").key_id == "2027-01-01"


def test_unknown_kids_refetch_at_most_once_per_interval_whatever_the_kid(
        server: KeyServer, key_sets: PlatformKeySets, clock: list[float]) -> None:
    key_sets.key(server.url, "2026-12-01")
    clock[0] += 6
    for number in range(20):
        with pytest.raises(PlatformKeyError):
            key_sets.key(server.url, f"forged-{number}")
    assert server.hits == 2  # the first fetch and one refetch for twenty unknown kids


def test_known_keys_keep_serving_while_the_key_set_endpoint_is_down(
        server: KeyServer, key_sets: PlatformKeySets, clock: list[float]) -> None:
    key_sets.key(server.url, "2026-12-01")
    server.status = 503
    clock[0] += CACHE_SECONDS + 1  # the cache has expired, and the refetch fails
    assert key_sets.key(server.url, "2026-12-01").key_id == "2026-12-01"
    clock[0] += 1  # within the refetch interval: no new request, the held key serves
    assert key_sets.key(server.url, "2026-12-01").key_id == "2026-12-01"
    assert server.hits == 2
    clock[0] += MAX_STALE_SECONDS  # too old to trust any longer
    with pytest.raises(PlatformKeyError):
        key_sets.key(server.url, "2026-12-01")
    server.status = 200
    clock[0] += 10
    assert key_sets.key(server.url, "2026-12-01").key_id == "2026-12-01"  # and back once the platform is
