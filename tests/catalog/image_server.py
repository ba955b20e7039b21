"""A loopback HTTPS server for pictures, with a test certificate authority (trustme).

Why HTTPS and not an "allow http" switch in the code under test: fetching refuses anything but https://,
and the tests go through that very rule, TLS verification included, with a client that trusts the test CA.
Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import ssl
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import trustme


@dataclass
class Reply:
    status: int = 200
    content_type: str = "image/jpeg"
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    send_length: bool = True


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        path = self.path.split("?", 1)[0]
        self.server.hits[path] += 1
        reply = self.server.routes.get(path, Reply(404, "text/plain", b"no such picture"))
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            if reply.send_length:
                self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the client stopped reading (an oversized body): what the test expects
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the signature http.server uses
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.context = context
        self.routes: dict[str, Reply] = {}
        self.hits: Counter[str] = Counter()

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        # The handshake runs in the handler's thread (on first read), not in the accept loop.
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client that hung up mid-handshake is not a test failure


@dataclass
class ImageServer:
    base_url: str
    routes: dict[str, Reply]
    hits: Counter[str]
    client_context: ssl.SSLContext

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def client(self) -> httpx.Client:
        """A client like the production one (no redirects followed for it), trusting the test CA."""
        return httpx.Client(verify=self.client_context, follow_redirects=False, trust_env=False)


@contextmanager
def image_server() -> Iterator[ImageServer]:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    server = _Server(server_context)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield ImageServer(f"https://127.0.0.1:{server.server_address[1]}", server.routes, server.hits,
                          client_context)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
