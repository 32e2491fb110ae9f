"""Heartbeats and cancel signals for every run this process holds, in one loop per process.

One query a second per worker process (not per run) finds cancel requests, and one batch of
updates every third of a lease keeps the leases alive, so hundreds of turns cost little. The
same loop writes the process's own heartbeat row every WORKER_HEARTBEAT_SECONDS: `/readyz`
reads it to tell whether any worker is alive, and the sweeper to hand the turns of a process
that went silent (its id heads their lease tokens) to others within seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from shared.db import Database
from shared.runs import leases
from shared.workers import service as workers

log = logging.getLogger(__name__)

CANCEL_POLL_SECONDS = 0.5


@dataclass
class Held:
    token: str
    on_cancel: Callable[[], None]
    on_lost: Callable[[], None]
    cancelled: bool = False


class LeaseKeeper:
    """Extends the leases of held runs and fires their cancel callbacks."""

    def __init__(
        self,
        database: Database,
        lease_seconds: float,
        heartbeat_seconds: float = 5,
        in_flight: Callable[[], int] = lambda: 0,
    ) -> None:
        self.database = database
        self.lease_seconds = lease_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.in_flight = in_flight
        self.worker_id = workers.new_id()
        self.held: dict[str, Held] = {}
        self._task: asyncio.Task[None] | None = None
        self._last_beat: float | None = None
        self._steady_since = 0.0

    async def start(self) -> None:
        """Announce this process (before it claims anything: a claim naming a worker with no
        row would look orphaned), then keep beating in the background."""
        try:
            await self._heartbeat()
        except Exception:  # the loop retries; until then this process's claims look orphaned
            log.warning("could not write this worker's first heartbeat", exc_info=True)
        self._task = asyncio.get_running_loop().create_task(self._beat())

    def new_token(self) -> str:
        """A lease token for a claim by this process."""
        return leases.new_token(self.worker_id)

    def steady_for(self) -> float:
        """How long this process's heartbeats have gone through without a gap (0 while they
        fail or the loop stalls): a sweeper judges other workers silent only once its own
        beats show the database has been reachable that long."""
        if self._last_beat is None or time.monotonic() - self._last_beat > self._gap():
            return 0.0
        return time.monotonic() - self._steady_since

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            async with self.database.transaction() as session:
                await workers.forget(session, self.worker_id)
        except Exception:  # the row then simply goes stale
            log.warning("could not remove this worker's heartbeat row", exc_info=True)

    def hold(
        self,
        run_id: str,
        token: str,
        on_cancel: Callable[[], None],
        on_lost: Callable[[], None],
    ) -> None:
        self.held[run_id] = Held(token, on_cancel, on_lost)

    def release(self, run_id: str) -> None:
        self.held.pop(run_id, None)

    async def _beat(self) -> None:
        last_extend = time.monotonic()
        while True:
            await asyncio.sleep(CANCEL_POLL_SECONDS)
            # The heartbeat first (it tells other workers this process is alive), on its own:
            # a failed beat must not stop the leases being extended.
            last = self._last_beat
            if last is None or time.monotonic() - last >= self.heartbeat_seconds:
                try:
                    await self._heartbeat()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.warning("worker heartbeat failed; retrying", exc_info=True)
            try:
                await self._check_cancels()
                if time.monotonic() - last_extend >= self.lease_seconds / 3:
                    await self._extend()
                    last_extend = time.monotonic()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("lease heartbeat failed; retrying", exc_info=True)

    async def _heartbeat(self) -> None:
        async with self.database.transaction() as session:
            await workers.beat(session, self.worker_id, self.in_flight())
        now = time.monotonic()
        if self._last_beat is None or now - self._last_beat > self._gap():
            self._steady_since = now
        self._last_beat = now

    def _gap(self) -> float:
        """A pause between beats longer than this breaks their run (two beats missed)."""
        return 2 * self.heartbeat_seconds + CANCEL_POLL_SECONDS

    async def _check_cancels(self) -> None:
        if not self.held:
            return
        async with self.database.transaction() as session:
            flagged = await leases.cancel_requested_among(session, list(self.held))
        for run_id in flagged:
            held = self.held.get(run_id)
            if held is not None and not held.cancelled:
                held.cancelled = True
                log.info("run %s: cancel requested", run_id)
                held.on_cancel()

    async def _extend(self) -> None:
        if not self.held:
            return
        tokens = {run_id: h.token for run_id, h in self.held.items()}
        async with self.database.transaction() as session:
            lost = await leases.extend_leases(session, tokens, self.lease_seconds)
        for run_id in lost:
            held = self.held.get(run_id)
            if held is not None and not held.cancelled:
                held.cancelled = True
                log.warning("run %s: lease lost to another worker; stopping here", run_id)
                held.on_lost()
