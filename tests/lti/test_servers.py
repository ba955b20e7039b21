"""The loopback servers the tests and benches run their peers on."""

from __future__ import annotations

import socket

from tests.lti.servers import reserved_socket


def test_a_reserved_socket_says_tcp_so_that_its_connections_turn_nagle_off() -> None:
    # asyncio sets TCP_NODELAY on an accepted connection only when the listening socket's proto is IPPROTO_TCP;
    # without it each request to a peer waited 44 ms on the delayed ACK (head and body are two writes).
    with reserved_socket() as sock:
        assert sock.proto == socket.IPPROTO_TCP
