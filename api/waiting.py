"""Long-poll support: wake waiters when a run changes, from Redis pub/sub or by polling."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator

import redis.asyncio as aioredis

from shared.notify import CHANNEL_PREFIX

log = logging.getLogger(__name__)

# Without Redis the database is polled: fast at first, then backing off.
POLL_INTERVALS = (0.02, 0.02, 0.05, 0.05, 0.1)
# With Redis, still re-read the database now and then in case a notification was lost.
NOTIFIED_RECHECK = 1.0


class RunWatcher:
    """One pub/sub subscription per API process, fanned out to the long-polls waiting on runs."""

    def __init__(self, redis_url: str | None) -> None:
        self._redis_url = redis_url
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._redis_url:
            self._task = asyncio.create_task(self._listen(self._redis_url))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @contextlib.asynccontextmanager
    async def watching(self, run_id: str) -> AsyncIterator[_Waiter]:
        """Register interest before reading the run, so no change slips between read and wait."""
        event = asyncio.Event()
        self._waiters[run_id].add(event)
        try:
            yield _Waiter(event, notified=self._task is not None)
        finally:
            waiters = self._waiters.get(run_id)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[run_id]

    async def _listen(self, redis_url: str) -> None:
        while True:
            client = aioredis.from_url(redis_url)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.psubscribe(CHANNEL_PREFIX + "*")
                    async for message in pubsub.listen():
                        if message.get("type") != "pmessage":
                            continue
                        run_id = message["channel"].decode().removeprefix(CHANNEL_PREFIX)
                        for event in self._waiters.get(run_id, ()):
                            event.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("run-change subscription lost; reconnecting")
                await asyncio.sleep(1)
            finally:
                await client.aclose()


class _Waiter:
    """Sleeps until the watched run changes or the next re-check is due."""

    def __init__(self, event: asyncio.Event, notified: bool) -> None:
        self._event = event
        self._notified = notified
        self._polls = 0

    async def wait(self, remaining: float) -> None:
        if self._notified:
            timeout = min(remaining, NOTIFIED_RECHECK)
        else:
            timeout = min(remaining, POLL_INTERVALS[min(self._polls, len(POLL_INTERVALS) - 1)])
            self._polls += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)
        self._event.clear()
