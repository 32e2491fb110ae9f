"""An httpx transport that checks every address it connects to, so DNS cannot steer inside.

The check at submit sees the DNS answer of that moment; a name can later resolve to
127.0.0.1 or 169.254.169.254 (DNS rebinding). Here the name is resolved once per connection,
every address is checked, and the socket goes to a checked address, so what was checked is
what is used. TLS still verifies the certificate against the URL's host name (httpcore passes
the origin host as SNI), and the Host header is unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable

import httpcore
import httpx

from shared.webhooks.urls import DestinationRefused, check_addresses, resolve

SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, refuses non-public addresses, then connects to an address it checked."""

    def __init__(self, dns_timeout: float) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._dns_timeout = dns_timeout

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await resolve(host, port, self._dns_timeout)
        check_addresses(host, addresses)
        last_error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None
        raise last_error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise DestinationRefused("webhooks are never sent to a unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport with its connection pool built on GuardedBackend.

    httpx has no public hook for the network backend, so the pool it built is replaced with an
    identical one that has it; tests/webhooks/test_webhook_transport.py proves the guard holds.
    """

    def __init__(self, *, limits: httpx.Limits, dns_timeout: float) -> None:
        super().__init__(limits=limits, trust_env=False, retries=0)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            retries=0,
            network_backend=GuardedBackend(dns_timeout),
        )


def make_transport(
    *, allow_private: bool, limits: httpx.Limits, dns_timeout: float
) -> httpx.AsyncBaseTransport:
    """The guarded transport, or httpx's plain one when private destinations are allowed."""
    if allow_private:
        return httpx.AsyncHTTPTransport(limits=limits, trust_env=False, retries=0)
    return GuardedTransport(limits=limits, dns_timeout=dns_timeout)
