"""Outbound requests to platforms go only to public addresses, and to the very address that was checked.

A platform names the URLs we fetch (its configuration, key set, token endpoint, later AGS and NRPS), and
anyone can start a dynamic registration, so a URL may point at our own loopback, the cloud metadata service
or a private network. Checking the name first and letting the HTTP client resolve it again would leave a
window for DNS rebinding; here the check runs inside the connection itself: httpcore asks our network
backend to connect to (host, port), the backend resolves the name once, refuses loopback, private,
link-local, multicast, reserved and unspecified addresses, and connects to the first address it accepted.
TLS still verifies the certificate against the URL's host name, because httpcore takes it from the URL.

httpx has no public hook for the network backend, so `guarded_transport` replaces the connection pool of
httpx's own transport (its `_pool`, pinned by a contract test in tests/lti/test_hostile_registration.py).
It sits at the top of the package, not in lti/, because the catalog fetches pictures through it too, and
catalog/ must not import lti/.
"""

from __future__ import annotations

import ipaddress
import socket
import typing
from collections.abc import Callable, Iterable

import anyio.to_thread
import httpcore
import httpx

Resolver = Callable[[str, int], list[str]]
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class DestinationRefused(httpx.TransportError):
    """The URL's host resolves to an address we never connect to; the message says which kind."""


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses of `host`, as the operating system resolves them."""
    return list(dict.fromkeys(str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)))


def refusal(address: Address, *, allow_loopback: bool) -> str | None:
    """Why `address` is refused as a destination, or None when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return None if allow_loopback else "a loopback address"
    for kind, flag in (("a private address", address.is_private), ("a link-local address", address.is_link_local),
                       ("a multicast address", address.is_multicast), ("a reserved address", address.is_reserved),
                       ("an unspecified address", address.is_unspecified)):
        if flag:
            return kind
    return None


def checked_addresses(host: str, port: int, resolver: Resolver, *, allow_loopback: bool) -> list[str]:
    """The resolved addresses of `host` we may connect to; DestinationRefused when there is none."""
    try:
        literal: Address | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    candidates = [str(literal)] if literal is not None else resolver(host, port)
    allowed: list[str] = []
    reasons: list[str] = []
    for candidate in candidates:
        reason = refusal(ipaddress.ip_address(candidate), allow_loopback=allow_loopback)
        if reason is None:
            allowed.append(candidate)
        else:
            reasons.append(reason)
    if not allowed:
        why = reasons[0] if reasons else "no address"
        raise DestinationRefused(f"The host {host} resolves to {why}; the marketplace only connects to public "
                                 "addresses.")
    return allowed


class GuardedAsyncBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks and connects to the checked address (async)."""

    def __init__(self, resolver: Resolver, allow_loopback: bool,
                 inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.resolver = resolver
        self.allow_loopback = allow_loopback
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Iterable[typing.Any] | None = None) -> httpcore.AsyncNetworkStream:
        addresses = await anyio.to_thread.run_sync(
            lambda: checked_addresses(host, port, self.resolver, allow_loopback=self.allow_loopback))
        return await self.inner.connect_tcp(addresses[0], port, timeout, local_address, socket_options)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[typing.Any] | None = None) -> httpcore.AsyncNetworkStream:
        raise DestinationRefused("Unix sockets are not a destination for platform requests.")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedSyncBackend(httpcore.NetworkBackend):
    """Resolves, checks and connects to the checked address (blocking)."""

    def __init__(self, resolver: Resolver, allow_loopback: bool, inner: httpcore.NetworkBackend | None = None) -> None:
        self.resolver = resolver
        self.allow_loopback = allow_loopback
        self.inner = inner or httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[typing.Any] | None = None) -> httpcore.NetworkStream:
        addresses = checked_addresses(host, port, self.resolver, allow_loopback=self.allow_loopback)
        return self.inner.connect_tcp(addresses[0], port, timeout, local_address, socket_options)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[typing.Any] | None = None) -> httpcore.NetworkStream:
        raise DestinationRefused("Unix sockets are not a destination for platform requests.")

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


# The pool httpx would build by default, minus proxies from the environment (a proxy would connect for us).
class _PoolOptions(typing.TypedDict):
    max_connections: int
    max_keepalive_connections: int
    keepalive_expiry: float


_POOL_OPTIONS: _PoolOptions = {"max_connections": 20, "max_keepalive_connections": 10, "keepalive_expiry": 5.0}


def guarded_async_transport(*, allow_loopback: bool, resolver: Resolver = system_resolver,
                            inner: httpcore.AsyncNetworkBackend | None = None) -> httpx.AsyncHTTPTransport:
    """An httpx async transport whose connections pass the destination check."""
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    transport._pool = httpcore.AsyncConnectionPool(  # noqa: SLF001 - see the module docstring
        ssl_context=httpx.create_ssl_context(), network_backend=GuardedAsyncBackend(resolver, allow_loopback, inner),
        **_POOL_OPTIONS)
    return transport


def guarded_sync_transport(*, allow_loopback: bool, resolver: Resolver = system_resolver,
                           inner: httpcore.NetworkBackend | None = None) -> httpx.HTTPTransport:
    """An httpx transport (blocking) whose connections pass the destination check."""
    transport = httpx.HTTPTransport(trust_env=False)
    transport._pool = httpcore.ConnectionPool(  # noqa: SLF001 - see the module docstring
        ssl_context=httpx.create_ssl_context(), network_backend=GuardedSyncBackend(resolver, allow_loopback, inner),
        **_POOL_OPTIONS)
    return transport
