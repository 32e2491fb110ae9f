"""The worker process's webhook HTTP client, and the limits that keep deliveries independent.

Deliveries run as tasks on the process loop, not in Celery pool threads, so a receiver that
takes its full timeout never holds a thread a turn could use. At most PER_HOST_IN_FLIGHT
attempts go to one host at once, so one slow receiver cannot take every slot from the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import httpx

from shared.config import Settings
from shared.webhooks import outbox
from shared.webhooks.outbox import AttemptResult
from shared.webhooks.urls import DNS_TIMEOUT_SECONDS, DestinationRefused
from worker.webhooks.transport import make_transport

log = logging.getLogger(__name__)
# httpx logs every request's full URL at INFO, and a webhook URL's path or query is often its
# credential (Slack-style hook URLs): keep them out of the worker's logs.
logging.getLogger("httpx").setLevel(logging.WARNING)

MAX_IN_FLIGHT = 100  # attempts in flight per worker process (and the connection pool size)
# Deliveries claiming their message at once: a flood of accepted deliveries queues here, in
# memory, instead of on the database pool the process's turns share.
LOOKUP_CONCURRENCY = 8
PER_HOST_IN_FLIGHT = 20
# Deliveries accepted but waiting for a slot; past this the task sheds the message and the
# outbox row waits for the sweeper, so a flood costs rows in the database, not memory here.
MAX_BACKLOG = 2000
RESPONSE_BODY_CAP = 4096  # bytes of a receiver's answer we read at most
ERROR_SNIPPET_CHARS = 200
SHUTDOWN_GRACE_SECONDS = 5.0
USER_AGENT = "Parley-Webhooks/1.0"


class WebhookSender:
    """One pooled AsyncClient per worker process, used only on the process loop."""

    def __init__(self, settings: Settings) -> None:
        self.timeout = settings.webhook_timeout_seconds
        limits = httpx.Limits(
            max_connections=MAX_IN_FLIGHT, max_keepalive_connections=PER_HOST_IN_FLIGHT
        )
        self.client = httpx.AsyncClient(
            transport=make_transport(
                allow_private=settings.webhook_allow_private,
                limits=limits,
                dns_timeout=min(DNS_TIMEOUT_SECONDS, self.timeout),
            ),
            follow_redirects=False,
            timeout=httpx.Timeout(self.timeout),
            trust_env=False,
            headers={"user-agent": USER_AGENT, "content-type": "application/json"},
        )
        self._in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._lookups = asyncio.Semaphore(LOOKUP_CONCURRENCY)
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._host_users: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def backlog(self) -> int:
        """Deliveries this process has accepted and not finished."""
        return len(self._tasks)

    def start(self, coro: Coroutine[Any, Any, Any], name: str) -> bool:
        """Run a delivery in the background (call on the loop); False if the backlog is full."""
        if len(self._tasks) >= MAX_BACKLOG:
            coro.close()
            return False
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return True

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "%s crashed; the sweeper will retry it",
                task.get_name(),
                exc_info=task.exception(),
            )

    def lookup_slot(self) -> asyncio.Semaphore:
        """Held while a delivery claims its message (before it knows its host)."""
        return self._lookups

    @contextlib.asynccontextmanager
    async def slot(self, host: str, wait: float) -> AsyncIterator[bool]:
        """Yields True holding a per-host, then a process-wide slot; False if they did not
        both come within `wait` s (a queue for one slow host holds no process-wide slot)."""
        gate = self._hosts.setdefault(host, asyncio.Semaphore(PER_HOST_IN_FLIGHT))
        self._host_users[host] += 1
        held: list[asyncio.Semaphore] = []
        try:
            try:
                async with asyncio.timeout(wait):
                    for semaphore in (gate, self._in_flight):
                        await semaphore.acquire()
                        held.append(semaphore)
            except TimeoutError:
                pass
            yield len(held) == 2
        finally:
            for semaphore in reversed(held):
                semaphore.release()
            self._host_users[host] -= 1
            if self._host_users[host] <= 0:
                del self._host_users[host]
                self._hosts.pop(host, None)

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> AttemptResult:
        """One attempt, bounded by the timeout end to end (DNS, connect, send, answer)."""
        started = time.monotonic()
        outcome, status_code, error = outbox.CONNECTION_ERROR, None, None
        try:
            async with asyncio.timeout(self.timeout):
                async with self.client.stream("POST", url, content=body, headers=headers) as r:
                    answer = await _read_capped(r)
                    status_code = r.status_code
            outcome, error = _judge(status_code, answer)
        except DestinationRefused as exc:
            outcome, error = outbox.REFUSED, str(exc)
        except (TimeoutError, httpx.TimeoutException):
            outcome, error = outbox.TIMEOUT, f"no answer within {self.timeout:g} s"
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            outcome, error = outbox.CONNECTION_ERROR, _describe(exc)
        duration_ms = int((time.monotonic() - started) * 1000)
        return AttemptResult(outcome, status_code, error, duration_ms)

    async def aclose(self) -> None:
        """Let running attempts finish briefly, then stop (a cut attempt is retried)."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=SHUTDOWN_GRACE_SECONDS)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self.client.aclose()


async def _read_capped(response: httpx.Response) -> bytes:
    """At most RESPONSE_BODY_CAP raw bytes (no decompression: a small gzip can unpack huge)."""
    buffer = bytearray()
    async for chunk in response.aiter_raw():
        buffer += chunk[: RESPONSE_BODY_CAP - len(buffer)]
        if len(buffer) >= RESPONSE_BODY_CAP:
            break
    return bytes(buffer)


def _judge(status_code: int, answer: bytes) -> tuple[str, str | None]:
    if 200 <= status_code < 300:
        return outbox.OK, None
    snippet = " ".join(answer.decode("utf-8", "replace").split())[:ERROR_SNIPPET_CHARS]
    if status_code == 410:
        return outbox.GONE, "HTTP 410 Gone: the receiver asked us to stop"
    if 300 <= status_code < 400:
        return outbox.HTTP_ERROR, f"HTTP {status_code}: redirects are not followed"
    return outbox.HTTP_ERROR, f"HTTP {status_code}" + (f": {snippet}" if snippet else "")


def _describe(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}"[:500] if text else type(exc).__name__
