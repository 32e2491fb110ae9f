"""The worker's event writer for one run: token deltas batched, everything else kept in order.

A delta is buffered, not written: the first one of a burst is written at once (so the first
token reaches clients within milliseconds), later ones at most every FLUSH_SECONDS or per
FLUSH_DELTAS, each batch in one transaction. So a 500-token reply costs about ten writes, not
500. Before the loop writes any other event (a tool call, the end) it drains the buffer, so
ids follow the order things happened. Writes check the lease: a worker that lost its run to
another stops emitting instead of interleaving with the new owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from shared.db import Database
from shared.events import store
from shared.events.schemas import MESSAGE_DELTA, delta_data

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.1
FLUSH_DELTAS = 50


class RunEmitter:
    """Buffers a run's message deltas and writes them in batches from one background task."""

    def __init__(self, database: Database, run_id: str, lease_token: str) -> None:
        self.database = database
        self.run_id = run_id
        self.lease_token = lease_token
        self.writes = 0
        self._buffer: list[str] = []
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._lost = False
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the background writer on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._pump())

    async def delta(self, text: str) -> None:
        """Queue a piece of the reply; never waits for the database."""
        if not text or self._lost:
            return
        self._buffer.append(text)
        self._wake.set()
        if len(self._buffer) >= FLUSH_DELTAS:
            self._full.set()

    async def drain(self) -> None:
        """Write every buffered delta now (before another event of the run is written)."""
        async with self._lock:
            await self._write()

    async def close(self) -> None:
        """Stop the background writer (after the write it is doing) and write what is left.

        The writer is never cancelled mid-transaction: a cancelled write can leave its
        connection holding SQLite's write lock until it is garbage-collected.
        """
        self._closing = True
        self._wake.set()
        self._full.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
            self._task = None
        try:
            await self.drain()
        except Exception:
            log.warning("run %s: could not write the last deltas", self.run_id, exc_info=True)

    async def _pump(self) -> None:
        while not self._closing:
            await self._wake.wait()
            self._wake.clear()
            if self._closing:
                return
            started = time.monotonic()
            try:
                async with self._lock:
                    await self._write()
            except Exception:
                log.warning("run %s: writing deltas failed; will retry", self.run_id, exc_info=True)
            # Pace the next batch: wait out the interval unless the buffer fills first.
            remaining = FLUSH_SECONDS - (time.monotonic() - started)
            if remaining > 0 and len(self._buffer) < FLUSH_DELTAS and not self._closing:
                self._full.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), remaining)

    async def _write(self) -> None:
        if not self._buffer or self._lost:
            return
        batch, self._buffer = self._buffer, []
        try:
            async with self.database.transaction() as session:
                written = await store.append(
                    session,
                    self.run_id,
                    [(MESSAGE_DELTA, delta_data(t)) for t in batch],
                    holder=self.lease_token,
                )
            if not written:
                self._lost = True
                log.warning("run %s: no longer ours; %d delta(s) dropped", self.run_id, len(batch))
                return
        except BaseException:
            self._buffer[:0] = batch  # keep order; the next write retries them
            raise
        self.writes += 1
