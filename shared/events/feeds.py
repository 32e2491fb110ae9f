"""A followed run's inboxes: bounded per follower, re-read from the database on overflow."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from shared.events.schemas import Event

MAX_QUEUED_EVENTS = 2000


@dataclass(eq=False)
class Subscription:
    """One follower's inbox: live events in arrival order, or a note to re-read the database."""

    queue: deque[Event] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    resync: bool = False
    closed: bool = False

    def push(self, events: list[Event]) -> None:
        """Queue events; past the bound, forget them and re-read the database instead."""
        if len(self.queue) + len(events) > MAX_QUEUED_EVENTS:
            self.queue.clear()
            self.resync = True
        else:
            self.queue.extend(events)
        self.wake.set()

    def close(self) -> None:
        self.closed = True
        self.wake.set()


@dataclass(eq=False)
class Feed:
    """A followed run in this process: its followers and the last id delivered to them."""

    subscriptions: set[Subscription] = field(default_factory=set)
    seen: int | None = None

    def deliver(self, events: list[Event]) -> None:
        """Hand new events to every follower; ones already delivered (by another path) drop."""
        fresh = [e for e in events if self.seen is None or e.id > self.seen]
        if not fresh:
            return
        self.seen = max(e.id for e in fresh)
        for sub in self.subscriptions:
            sub.push(fresh)


@dataclass
class Changes:
    """One waiter's view of a followed run: the events that arrive after its own read."""

    feed: Feed
    sub: Subscription

    def start_at(self, last_id: int) -> None:
        """Events up to `last_id` are known to the waiter (it read the run after them)."""
        if self.feed.seen is None:
            self.feed.seen = last_id

    async def next(self, timeout: float) -> list[Event] | None:
        """The events that came within `timeout` s; None if the waiter must re-read the run
        (nothing came, or the inbox overflowed)."""
        await wait(self.sub, timeout)
        events, resync = list(self.sub.queue), self.sub.resync or self.sub.closed
        self.sub.queue.clear()
        self.sub.resync = False
        return None if resync or not events else events


async def wait(sub: Subscription, idle_seconds: float) -> bool:
    """Wait for the inbox to have something; False if `idle_seconds` passed first."""
    if sub.queue or sub.resync or sub.closed:
        return True
    sub.wake.clear()
    try:
        await asyncio.wait_for(sub.wake.wait(), idle_seconds)
    except TimeoutError:
        return False
    return True
