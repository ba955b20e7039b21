"""Run an ASGI app with uvicorn on a loopback port, in a thread, for tests over real HTTP."""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp


def reserved_socket() -> socket.socket:
    """A loopback socket bound to a port the kernel chose, held until a server takes it over.

    Asking for a free port, closing the probe and binding again later races with everything else on the machine
    (an outgoing connection to PostgreSQL may take the same ephemeral port in between): CI once failed on it.
    """
    return _bound(0)


def unused_port() -> int:
    """A loopback port for a child process to bind itself (`marketplace serve`, PostgreSQL), picked outside
    the kernel's ephemeral range and checked free.

    A port the kernel hands out for bind(0) comes from the ephemeral range, which is also where every outgoing
    connection takes its source port: between closing such a probe and the child's bind, a connection to
    PostgreSQL took the port once and CI failed with "address already in use". Outside the range only another
    listener could take it, and these are picked at random and checked free.
    """
    low, high = _ephemeral_range()
    candidates = range(max(1024, low - 12000), low) if low - 1024 >= 2000 else range(high + 1, 65536)
    for _ in range(200):
        port = _RANDOM.choice(candidates)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no unused loopback port outside the ephemeral range")


_RANDOM = random.SystemRandom()  # not the tests' seeded generator: two runs at once must not pick alike


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def url_of(sock: socket.socket) -> str:
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextmanager
def _serve(app: ASGIApp, sock: socket.socket) -> Iterator[str]:
    base_url = url_of(sock)
    config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False, ws="none",
                            http="h11", loop="asyncio", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn {base_url}",
                              daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the test server at {base_url} did not start")
            time.sleep(0.01)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()  # uvicorn closes it on shutdown; this covers a failed start


def _bound(port: int) -> socket.socket:
    # IPPROTO_TCP spelled out: asyncio turns Nagle off (TCP_NODELAY) only on connections accepted from a socket
    # whose proto says TCP, and the default proto is 0. With Nagle on, uvicorn's two writes of each response
    # (head, then body) met the client's delayed ACK: every request to these servers took 44 ms, whatever the
    # app did. uvicorn's own sockets (`marketplace serve`) spell it out too.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()  # else it is garbage-collected in a later test, which then fails on the ResourceWarning
        raise
    return sock


@contextmanager
def serving(app: ASGIApp, sock: socket.socket) -> Iterator[str]:
    """Serve `app` on the reserved socket `sock` until the block ends; yields the base URL."""
    with _serve(app, sock) as base_url:
        yield base_url


@contextmanager
def running_server(build: Callable[[str], ASGIApp]) -> Iterator[str]:
    """Serve build(base_url) on a port bound before the app is built, so the app can know its own URL."""
    sock = _bound(0)
    with _serve(build(url_of(sock)), sock) as base_url:
        yield base_url
