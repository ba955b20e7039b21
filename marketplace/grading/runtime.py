"""The long-lived grading objects of one process: the shared HTTP client, tokens, line items and the worker."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import httpx
from sqlalchemy.orm import Session, sessionmaker

from marketplace.grading.lineitems import LineItems
from marketplace.grading.tokens import AccessTokens
from marketplace.grading.worker import DeliveryConfig, GradeDelivery
from marketplace.lti.keys import SigningKeys
from marketplace.outbound import guarded_async_transport

# Connect fails fast (a dead host is retried later); a slow gradebook gets longer to answer.
TIMEOUT = httpx.Timeout(connect=5.0, read=20.0, write=10.0, pool=10.0)


@dataclass
class Grading:
    """One shared client for every outgoing grading call, and the objects that use it."""

    client: httpx.AsyncClient
    tokens: AccessTokens
    line_items: LineItems
    delivery: GradeDelivery
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    def start_worker(self) -> None:
        """Run the delivery worker in the current event loop until `stop()`."""
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self.delivery.run_forever(self._stop), name="grade-delivery")

    async def stop(self) -> None:
        """Let the pass in flight record its outcomes (briefly), then close the client."""
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, timeout=10.0)
            self._task = None
        await self.client.aclose()


def build_grading(sessions: sessionmaker[Session], signing: SigningKeys, secret_key: str, *, allow_loopback: bool,
                  config: DeliveryConfig | None = None, timeout: httpx.Timeout = TIMEOUT) -> Grading:
    """Create the grading objects (no I/O happens until they are used)."""
    client = httpx.AsyncClient(transport=guarded_async_transport(allow_loopback=allow_loopback), timeout=timeout,
                               follow_redirects=False, headers={"User-Agent": "lti-marketplace"})
    tokens = AccessTokens(sessions, client, signing, secret_key)
    line_items = LineItems(sessions, client)
    delivery = GradeDelivery(sessions, client, tokens, line_items, config)
    return Grading(client, tokens, line_items, delivery)
