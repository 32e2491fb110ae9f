"""Live fan-out of committed events: Redis pub/sub in services mode, nothing to do when embedded.

Why pub/sub and not Redis Streams: the database already holds the durable, numbered copy of
every event (needed anyway for embedded mode and for replay long after a run ends), so Redis
only has to carry the live tail. Pub/sub does that with one PUBLISH per committed batch and one
PSUBSCRIBE connection per API process, fanned out in memory to any number of clients; nothing
to trim or expire. It is fire-and-forget, so readers never trust it for completeness: every
event carries its id, a reader that sees a gap (or a lost message) re-reads the database after
its last id, and each API process re-checks the database once a second as a safety net.
Streams (XREAD BLOCK) would keep a second durable copy to trim and need a blocking connection
per reader, and would still have to fall back to SQL for replay after EVENT_RETENTION_HOURS.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import redis.asyncio as aioredis

from shared.events.schemas import Event

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "parley:events:"
MAX_PENDING_BATCHES = 10_000


def channel(run_id: str) -> str:
    """The pub/sub channel of one run's events."""
    return CHANNEL_PREFIX + run_id


class EventBus:
    """Publishes committed events in commit order from one task, so the writer never waits."""

    def __init__(self, redis_url: str | None) -> None:
        self._redis = aioredis.from_url(redis_url) if redis_url else None
        self._queue: asyncio.Queue[list[Event]] | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the publishing task on the running loop (a no-op in embedded mode)."""
        if self._redis is not None and self._task is None:
            self._queue = asyncio.Queue(MAX_PENDING_BATCHES)
            self._task = asyncio.get_running_loop().create_task(self._pump(self._redis))

    def publish_soon(self, events: list[Event]) -> None:
        """Queue committed events for publication; readers fall back to SQL if this drops them."""
        if self._queue is None:
            return
        try:
            self._queue.put_nowait(events)
        except asyncio.QueueFull:
            log.warning("event bus backlog full; run %s events left to SQL", events[0].run_id)

    async def _pump(self, client: aioredis.Redis) -> None:
        assert self._queue is not None
        while True:
            batch = await self._queue.get()
            while not self._queue.empty():
                batch.extend(self._queue.get_nowait())
            by_run: dict[str, list[Event]] = {}
            for item in batch:
                by_run.setdefault(item.run_id, []).append(item)
            try:
                async with client.pipeline(transaction=False) as pipe:
                    for run_id, events in by_run.items():
                        payload = json.dumps([e.to_wire() for e in events], separators=(",", ":"))
                        pipe.publish(channel(run_id), payload)
                    await pipe.execute()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning(
                    "publishing events of %d run(s) failed; readers re-read SQL", len(by_run)
                )

    async def close(self) -> None:
        """Publish what is queued (briefly), then stop."""
        if self._task is not None:
            assert self._queue is not None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2):
                    while not self._queue.empty():
                        await asyncio.sleep(0.01)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._redis is not None:
            await self._redis.aclose()
