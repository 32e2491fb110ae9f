"""The destination checker: http(s) only, and no address that reaches inside."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from shared.errors import Unprocessable
from shared.webhooks.urls import check_destination, refusal_reason

REFUSED = [
    "http://127.0.0.1/hook",
    "http://127.1/hook",  # short form, resolved by the C library
    "http://2130706433/hook",  # 127.0.0.1 as one number
    "http://0x7f000001/hook",
    "http://localhost:8080/hook",  # a name that resolves to loopback
    "http://10.1.2.3/hook",
    "http://172.16.0.1/hook",
    "http://192.168.1.1/hook",
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://100.64.0.1/hook",  # carrier-grade NAT
    "http://0.0.0.0/hook",
    "http://224.0.0.1/hook",  # multicast
    "http://240.0.0.1/hook",  # reserved
    "http://192.0.2.10/hook",  # documentation range, not public
    "http://[::1]/hook",  # IPv6 loopback
    "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped loopback
    "http://[fe80::1]/hook",  # IPv6 link-local
    "http://[fc00::1]/hook",  # unique local
    "http://[ff02::1]/hook",  # IPv6 multicast
    "http://[64:ff9b::a00:1]/hook",  # NAT64 to 10.0.0.1
    "http://[2002:a00:1::]/hook",  # 6to4 around 10.0.0.1
]
NOT_HTTP = [
    "ftp://example.com/hook",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "gopher://8.8.8.8/",
    "http:///no-host",
    "http://8.8.8.8:99999/",
    "not a url",
]
PUBLIC = ["https://8.8.8.8/hook", "http://1.1.1.1:8080/x?y=1", "https://[2606:4700:4700::1111]/"]


def check(url: str, allow_private: bool = False) -> None:
    asyncio.run(check_destination(url, allow_private=allow_private))


@pytest.mark.parametrize("url", REFUSED)
def test_inside_addresses_are_refused(url: str) -> None:
    with pytest.raises(Unprocessable) as info:
        check(url)
    assert "WEBHOOK_ALLOW_PRIVATE" in info.value.detail


@pytest.mark.parametrize("url", NOT_HTTP)
def test_only_http_urls_are_accepted_even_when_private_is_allowed(url: str) -> None:
    with pytest.raises(Unprocessable):
        check(url, allow_private=True)


@pytest.mark.parametrize("url", PUBLIC)
def test_public_addresses_pass(url: str) -> None:
    check(url)


def test_allow_private_lets_loopback_through() -> None:
    check("http://127.0.0.1:9/hook", allow_private=True)
    check("http://localhost:9/hook", allow_private=True)


def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(Unprocessable) as info:
        check("https://no-such-host.invalid/hook")
    assert "resolve" in info.value.detail


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("239.1.1.1", "multicast"),
        ("::ffff:10.0.0.1", "private"),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_refusal_reasons(address: str, reason: str | None) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) == reason
