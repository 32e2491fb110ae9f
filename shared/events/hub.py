"""Following a run's events from any API process: replay from SQL, then the live tail.

One hub per API process. Each followed run has a feed shared by every local follower (SSE
connections and WebSocket subscriptions). Live events reach a feed from Redis pub/sub (services
mode) and from one poller that, for all followed runs at once, compares the database's last id
with the last delivered one: every 25 ms in embedded mode (the only source there), every second
in services mode (a safety net for lost messages). Followers own bounded queues; a follower
that falls behind drops its queue and re-reads the database, so a slow client never holds
memory or slows anyone else, and the worker never waits for readers at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator

import redis.asyncio as aioredis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import Database
from shared.events import store
from shared.events.bus import CHANNEL_PREFIX
from shared.events.feeds import Changes, Feed, Subscription, wait
from shared.events.schemas import Event, run_data
from shared.runs import states
from shared.runs.models import Run

log = logging.getLogger(__name__)

EMBEDDED_POLL_SECONDS = 0.025
SERVICES_POLL_SECONDS = 1.0
POLL_BATCH = 500


class EventHub:
    """Feeds events of followed runs to local followers, from Redis and/or the database."""

    def __init__(self, database: Database, redis_url: str | None) -> None:
        self.database = database
        self._redis_url = redis_url
        self._feeds: dict[str, Feed] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._poll_seconds = SERVICES_POLL_SECONDS if redis_url else EMBEDDED_POLL_SECONDS
        self._poll_wake = asyncio.Event()

    def start(self) -> None:
        """Start the poller (and, in services mode, the Redis listener) on the running loop."""
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._poll()))
        if self._redis_url:
            self._tasks.append(loop.create_task(self._listen(self._redis_url)))

    async def stop(self) -> None:
        """Stop listening and end every follower's stream, so shutdown is not held open."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for feed in self._feeds.values():
            for sub in feed.subscriptions:
                sub.close()

    @property
    def followed_runs(self) -> int:
        """How many runs this process is following for its clients."""
        return len(self._feeds)

    async def follow(
        self, run_id: str, after: int, idle_seconds: float
    ) -> AsyncIterator[Event | None]:
        """Every event of the run with id > `after`, in order, ending with the terminal one.

        Yields None after `idle_seconds` without an event (the caller sends a keep-alive).
        Ends at once if the run is over and the caller has already seen its end.
        """
        with self._subscribe(run_id) as (feed, sub):
            cursor = after
            backlog = await self._read_all(run_id, cursor)
            over = any(e.terminal for e in backlog)
            if not over:
                rest, over = await self._ending_if_over(
                    run_id, backlog[-1].id if backlog else cursor
                )
                backlog += rest
            if feed.seen is None:
                feed.seen = backlog[-1].id if backlog else await self._last_id(run_id, cursor)
            while True:
                for item in backlog:
                    if item.id > cursor:
                        yield item
                        cursor = item.id
                    if item.terminal:
                        return
                if over or sub.closed:
                    return
                if not await wait(sub, idle_seconds):
                    yield None
                    backlog = []
                    continue
                backlog = await self._take(run_id, sub, cursor)

    @contextlib.asynccontextmanager
    async def changes(self, run_id: str) -> AsyncIterator[Changes]:
        """The run's new events as they come (for long-polls that wait for its end).

        Register before reading the run, then `start_at` the last event id that read saw, so a
        change between the read and the wait still reaches the waiter.
        """
        with self._subscribe(run_id) as (feed, sub):
            yield Changes(feed, sub)

    async def _take(self, run_id: str, sub: Subscription, cursor: int) -> list[Event]:
        """The inbox's events after `cursor` if they follow on without a gap, else the database's.

        A terminal event at or below `cursor` is kept, so a follower that asked to start past
        the end still stops when the run does.
        """
        queued = sorted({e.id: e for e in sub.queue}.values(), key=lambda e: e.id)
        sub.queue.clear()
        ended = [e for e in queued if e.terminal and e.id <= cursor]
        live = [e for e in queued if e.id > cursor]
        contiguous = all(e.id == cursor + 1 + i for i, e in enumerate(live))
        if sub.resync or not contiguous:
            sub.resync = False
            return await self._read_all(run_id, cursor)
        return ended + live

    async def _last_id(self, run_id: str, ceiling: int) -> int:
        """The run's newest event id, capped at `ceiling` (a follower may start past the end)."""
        async with self.database.sessions() as session:
            last = (await store.last_ids(session, [run_id])).get(run_id, 0)
        return min(last, ceiling)

    async def _read_all(self, run_id: str, after: int) -> list[Event]:
        events: list[Event] = []
        while True:
            async with self.database.sessions() as session:
                page = await store.read(session, run_id, after)
            events += page
            if len(page) < store.READ_PAGE:
                return events
            after = page[-1].id

    async def _ending_if_over(self, run_id: str, cursor: int) -> tuple[list[Event], bool]:
        """For a run that already ended: (its events after `cursor`, ending with the end; True).

        The terminal event commits with the terminal status, so once the status reads terminal
        the event is there, unless retention pruned the log: then the end is rebuilt from the
        run row under the terminal event's own id. (No events and True: the caller saw the end.)
        """
        async with self.database.sessions() as session:
            run = await session.get(Run, run_id)
            if run is None or run.status not in states.TERMINAL:
                return [], run is None
            rest = await store.read(session, run_id, cursor)
            if any(e.terminal for e in rest):
                return rest, True
            last = (await store.last_ids(session, [run_id])).get(run_id, cursor + 1)
            if last <= cursor:
                return rest, True
            return [*rest, Event(run_id, last, f"run.{run.status}", run_data(run))], True

    @contextlib.contextmanager
    def _subscribe(self, run_id: str) -> Iterator[tuple[Feed, Subscription]]:
        feed = self._feeds.get(run_id)
        if feed is None:
            feed = self._feeds[run_id] = Feed()
            self._poll_wake.set()
        sub = Subscription()
        feed.subscriptions.add(sub)
        try:
            yield feed, sub
        finally:
            feed.subscriptions.discard(sub)
            if not feed.subscriptions and self._feeds.get(run_id) is feed:
                del self._feeds[run_id]

    async def _poll(self) -> None:
        """Deliver what the database has beyond each feed's last id, for all feeds at once."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poll_wake.wait(), self._poll_seconds)
            self._poll_wake.clear()
            try:
                await self._poll_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("event poll failed; retrying", exc_info=True)
                await asyncio.sleep(1)

    async def _poll_once(self) -> None:
        ready = [run_id for run_id, feed in self._feeds.items() if feed.seen is not None]
        for start in range(0, len(ready), POLL_BATCH):
            chunk = ready[start : start + POLL_BATCH]
            async with self.database.sessions() as session:
                last = await store.last_ids(session, chunk)
                for run_id in chunk:
                    feed = self._feeds.get(run_id)
                    if feed is None or feed.seen is None:
                        continue
                    if run_id not in last:
                        await self._close_if_gone(session, run_id, feed)
                    elif last[run_id] > feed.seen:
                        feed.deliver(await store.read(session, run_id, feed.seen))

    async def _close_if_gone(self, session: AsyncSession, run_id: str, feed: Feed) -> None:
        """A followed run whose log vanished was deleted (its conversation went): end streams."""
        exists = await session.execute(select(Run.id).where(Run.id == run_id))
        if exists.first() is None:
            for sub in feed.subscriptions:
                sub.close()

    async def _listen(self, redis_url: str) -> None:
        """One pattern subscription per process, fanned out to this process's feeds."""
        while True:
            client = aioredis.from_url(redis_url)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.psubscribe(CHANNEL_PREFIX + "*")
                    # Anything published while we were not subscribed is found by the poller.
                    self._poll_wake.set()
                    async for message in pubsub.listen():
                        if message.get("type") == "pmessage":
                            self._on_message(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("event subscription lost; reconnecting")
                await asyncio.sleep(1)
            finally:
                await client.aclose()

    def _on_message(self, raw: bytes) -> None:
        try:
            events = [Event.from_wire(item) for item in json.loads(raw)]
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable event message ignored")
            return
        if events:
            feed = self._feeds.get(events[0].run_id)
            if feed is not None:
                feed.deliver(events)
