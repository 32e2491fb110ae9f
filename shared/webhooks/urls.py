"""Where a webhook may go: http(s) to public addresses only, unless private ones are allowed.

The same check runs at submit (a 422) and, through the worker's transport, on the addresses
each connection actually uses, so a DNS answer that changes after submit cannot reach inside.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from urllib.parse import urlsplit

from shared.errors import Unprocessable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES = ("http", "https")
DNS_TIMEOUT_SECONDS = 3.0
# RFC 3986's characters. urlsplit silently drops tabs and newlines and keeps spaces, so a URL
# with CR/LF or a space passed here and then failed every delivery attempt for a day.
URL_CHARACTERS = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+$")
# NAT64 (RFC 6052) embeds an IPv4 address; a gateway would forward to it.
NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")


class DestinationRefused(Exception):
    """The destination is not a place Parley sends webhooks to (the message says why)."""


def split_target(url: str) -> tuple[str, int]:
    """(host, port) of an http(s) URL; DestinationRefused for anything else."""
    if not URL_CHARACTERS.match(url):
        raise DestinationRefused(
            "webhook_url must be a plain URL: no spaces, control characters or non-ASCII "
            "characters (percent-encode them; use the punycode form of a domain)"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise DestinationRefused(f"webhook_url is not a valid URL: {exc}") from None
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise DestinationRefused("webhook_url must be an http or https URL")
    host = parts.hostname
    if not host:
        raise DestinationRefused("webhook_url has no host")
    return host, port or (443 if parts.scheme.lower() == "https" else 80)


def refusal_reason(address: IPAddress) -> str | None:
    """Why this address is off limits (loopback, private, …), or None for a public one."""
    # An IPv4 address embedded in an IPv6 one is where packets really go: judge it first.
    candidates: list[IPAddress] = []
    if isinstance(address, ipaddress.IPv6Address):
        for embedded in (address.ipv4_mapped, address.sixtofour):
            if embedded is not None:
                candidates.append(embedded)
        if address.teredo is not None:
            candidates.append(address.teredo[1])
        if address in NAT64_PREFIX:
            candidates.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    candidates.append(address)
    for ip in candidates:
        if ip.is_loopback:
            return "loopback"
        if ip.is_link_local:
            return "link-local"
        if ip.is_multicast:
            return "multicast"
        if ip.is_unspecified or ip.is_reserved:
            return "reserved"
        if ip.is_private:
            return "private"
        if not ip.is_global:
            return "non-public"
    return None


def literal_address(host: str) -> IPAddress | None:
    """The address if `host` is an IP literal in canonical form, else None."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def resolve(host: str, port: int, timeout: float = DNS_TIMEOUT_SECONDS) -> list[IPAddress]:
    """Every address `host` resolves to, looked up off the event loop within `timeout`."""
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError:
        raise DestinationRefused(f"webhook_url host {host!r} did not resolve in time") from None
    except (OSError, UnicodeError) as exc:
        raise DestinationRefused(f"webhook_url host {host!r} does not resolve ({exc})") from None
    addresses: list[IPAddress] = []
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise DestinationRefused(f"webhook_url host {host!r} has no addresses")
    return addresses


def check_addresses(host: str, addresses: list[IPAddress]) -> None:
    """Refuse if any address is not public: one private answer is enough to be steered inside."""
    for address in addresses:
        reason = refusal_reason(address)
        if reason is not None:
            raise DestinationRefused(
                f"webhook_url host {host!r} resolves to a {reason} address ({address}); "
                "set WEBHOOK_ALLOW_PRIVATE=true to allow it"
            )


async def check_destination(url: str, *, allow_private: bool) -> None:
    """Validate a submitted webhook_url; a refusal is a 422 with the reason."""
    try:
        host, port = split_target(url)
        if not allow_private:
            check_addresses(host, await resolve(host, port))
    except DestinationRefused as exc:
        raise Unprocessable(str(exc), loc=["body", "webhook_url"]) from None
