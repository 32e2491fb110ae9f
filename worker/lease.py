"""Heartbeats and cancel signals for every run this process holds, in one loop per process.

One query a second per worker process (not per run) finds cancel requests, and one batch of
updates every third of a lease keeps the leases alive, so hundreds of turns cost little. The
same loop writes the process's own heartbeat row every WORKER_HEARTBEAT_SECONDS, so `/readyz`
can tell whether any worker is alive.
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
        self.worker_id = workers.identity()
        self.held: dict[str, Held] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._beat())

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
        last_heartbeat = -self.heartbeat_seconds  # the first tick announces the process
        while True:
            await asyncio.sleep(CANCEL_POLL_SECONDS)
            try:
                await self._check_cancels()
                if time.monotonic() - last_extend >= self.lease_seconds / 3:
                    await self._extend()
                    last_extend = time.monotonic()
                if time.monotonic() - last_heartbeat >= self.heartbeat_seconds:
                    async with self.database.transaction() as session:
                        await workers.beat(session, self.worker_id, self.in_flight())
                    last_heartbeat = time.monotonic()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("lease heartbeat failed; retrying", exc_info=True)

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
