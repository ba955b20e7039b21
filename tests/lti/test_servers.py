"""The loopback servers the tests and benches run their peers on."""

from __future__ import annotations

import socket

from tests.lti.servers import reserved_socket


def test_a_reserved_socket_says_tcp_so_that_its_connections_turn_nagle_off() -> None:
    # asyncio sets TCP_NODELAY on an accepted connection only when the listening socket's proto is IPPROTO_TCP;
    # without it each request to a peer waited 44 ms on the delayed ACK (head and body are two writes).
    with reserved_socket() as sock:
        assert sock.proto == socket.IPPROTO_TCP


def test_a_port_for_a_child_is_free_and_outside_the_ephemeral_range() -> None:
    """Outgoing connections take their source ports from the ephemeral range; a port picked there by bind(0)
    and handed to a child process could be taken before the child binds it (CI failed on it once)."""
    import socket as sockets

    from tests.lti.servers import _ephemeral_range, unused_port

    low, high = _ephemeral_range()
    ports = {unused_port() for _ in range(20)}
    assert all(not low <= port <= high and port >= 1024 for port in ports)
    assert len(ports) > 1  # picked at random, not one fixed port
    for port in ports:
        with sockets.socket() as listener:
            listener.bind(("127.0.0.1", port))  # free: a child can bind it
