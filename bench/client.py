"""Parley's public API as a benchmark client sees it: submit a turn, long-poll until it ends.

The long-poll is an idempotent GET, so like any sound client it rides out a dropped connection
or a 503 (retrying within the turn's deadline); every such hiccup is counted in a Tally and
reported. A refused or failed submit is not retried: the turn counts as failed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.stack import make_token

TERMINAL = ("completed", "failed", "cancelled")
LONG_POLL_SECONDS = 30
HTTP_TIMEOUT = 90.0
# Below uvicorn's 5 s keep-alive timeout, so the client never reuses a connection the server
# is closing at that very moment (that race surfaces as ReadError / RemoteProtocolError).
KEEPALIVE_EXPIRY = 2.0
RETRY_PAUSE = 0.2
RETRYABLE_STATUS = (429, 502, 503, 504)


class TurnError(Exception):
    """A turn the client could not see to its end; `kind` names why, for the report."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


@dataclass
class Tally:
    """HTTP trouble the clients met: status codes and transport errors, by name."""

    counts: Counter[str] = field(default_factory=Counter)

    def add(self, what: str) -> None:
        self.counts[what] += 1

    def __str__(self) -> str:
        return ", ".join(f"{k} × {v}" for k, v in sorted(self.counts.items())) or "none"


@dataclass(frozen=True)
class TurnSample:
    """One turn as the client saw it, with the server's timestamps for a breakdown."""

    total: float  # submit sent → terminal status received (s)
    post: float  # POST /v1/runs round trip (s)
    sent_at: float  # wall clock when the POST was sent (epoch s)
    seen_at: float  # wall clock when the terminal status arrived (epoch s)
    run: dict[str, Any]

    @property
    def ok(self) -> bool:
        """Completed, with exactly the one tool call the message asks for."""
        return self.outcome == "completed"

    @property
    def outcome(self) -> str:
        """`completed` for a good turn, else what went wrong (status and error code)."""
        status = self.run["status"]
        calls = (self.run.get("output") or {}).get("tool_calls", [])
        if status == "completed":
            return "completed" if len(calls) == 1 else f"completed with {len(calls)} tool calls"
        code = (self.run.get("error") or {}).get("code", "?")
        return f"{status} ({code})"

    def server_time(self, name: str) -> float:
        """A run timestamp (created_at, started_at, finished_at) as epoch seconds."""
        return dt.datetime.fromisoformat(self.run[name]).timestamp()


def make_client(base_url: str, connections: int, user: str | None = None) -> httpx.AsyncClient:
    """An HTTP client for one (fresh) user with room for `connections` requests in flight."""
    token = make_token(user or f"bench-{uuid.uuid4().hex[:10]}")
    return httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=HTTP_TIMEOUT,
        limits=httpx.Limits(
            max_connections=connections,
            max_keepalive_connections=connections,
            keepalive_expiry=KEEPALIVE_EXPIRY,
        ),
    )


async def submit(
    http: httpx.AsyncClient, message: str, tally: Tally | None = None
) -> dict[str, Any]:
    """POST /v1/runs; TurnError unless it answers 202."""
    try:
        response = await http.post("/v1/runs", json={"message": message})
    except httpx.TransportError as exc:
        _count(tally, f"POST {type(exc).__name__}")
        raise TurnError(f"submit {type(exc).__name__}", repr(exc)) from exc
    if response.status_code != 202:
        _count(tally, f"POST {response.status_code}")
        raise TurnError(f"submit {response.status_code}", response.text[:300])
    run: dict[str, Any] = response.json()
    return run


async def wait(
    http: httpx.AsyncClient, run_id: str, timeout: float, tally: Tally | None = None
) -> dict[str, Any]:
    """Long-poll the run until it is terminal; TurnError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TurnError("not terminal in time", f"run {run_id} after {timeout:g} s")
        seconds = min(LONG_POLL_SECONDS, max(1, int(remaining)))
        try:
            response = await http.get(f"/v1/runs/{run_id}", params={"wait": seconds})
        except httpx.TransportError as exc:
            _count(tally, f"GET {type(exc).__name__}")
            await asyncio.sleep(RETRY_PAUSE)
            continue
        if response.status_code in RETRYABLE_STATUS:
            _count(tally, f"GET {response.status_code}")
            await asyncio.sleep(_retry_after(response))
            continue
        if response.status_code != 200:
            _count(tally, f"GET {response.status_code}")
            raise TurnError(f"GET {response.status_code}", response.text[:300])
        run: dict[str, Any] = response.json()
        if run["status"] in TERMINAL:
            return run


async def turn(
    http: httpx.AsyncClient, message: str, timeout: float, tally: Tally | None = None
) -> TurnSample:
    """Submit one turn and long-poll it to its end."""
    sent_at = time.time()
    started = time.perf_counter()
    run = await submit(http, message, tally)
    post = time.perf_counter() - started
    run = await wait(http, run["id"], timeout, tally)
    total = time.perf_counter() - started
    return TurnSample(total, post, sent_at, time.time(), run)


def _count(tally: Tally | None, what: str) -> None:
    if tally is not None:
        tally.add(what)


def _retry_after(response: httpx.Response) -> float:
    """The server's Retry-After (capped at 1 s, so the turn's own deadline stays in charge)."""
    try:
        return min(1.0, max(RETRY_PAUSE, float(response.headers.get("retry-after", RETRY_PAUSE))))
    except ValueError:
        return RETRY_PAUSE
