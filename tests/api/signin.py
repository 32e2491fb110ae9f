"""Helpers for the sign-in tests: register, log in, and clients for the tokens they get."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.stack import Stack

PASSWORD = "correct horse battery staple"


def new_username() -> str:
    return f"user-{uuid.uuid4().hex[:12]}"


def new_address() -> str:
    """A client address of its own (uvicorn trusts X-Forwarded-For from 127.0.0.1).

    IPv6 documentation space with 64 random bits: with 62,500 IPv4 choices two of the suite's
    few hundred throttle tests could share an address, and one saw a 429 too early.
    """
    n = uuid.uuid4().int
    groups = ":".join(f"{(n >> shift) & 0xFFFF:x}" for shift in (0, 16, 32, 48))
    return f"2001:db8:0:0:{groups}"


def register(client: httpx.Client, username: str, password: str = PASSWORD) -> dict[str, Any]:
    response = client.post("/v1/auth/register", json={"username": username, "password": password})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def login(
    client: httpx.Client, username: str, password: str = PASSWORD, address: str | None = None
) -> httpx.Response:
    return client.post(
        "/v1/auth/token",
        data={"grant_type": "password", "username": username, "password": password},
        headers={"X-Forwarded-For": address or new_address()},
    )


def bearer(stack: Stack, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=stack.api_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
