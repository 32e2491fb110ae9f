"""The turns one worker process runs: admitted up to WORKER_MAX_TURNS, each on the process loop.

A Celery thread only claims its run (milliseconds) and returns; the turn then runs on the loop
without holding a thread, so a process holds as many turns as it has slots, not threads. The
run row and its lease are the durable record: if the process dies, the sweeper re-dispatches the
run once its lease lapses, exactly as if the thread had died with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from shared import logcontext
from shared.events import store
from shared.events.schemas import RUN_WAITING
from shared.provider.limits import OnWait
from worker.agent import waiting
from worker.runs import claim
from worker.runs.execute import run_claimed
from worker.runtime import Runtime

log = logging.getLogger(__name__)


class InFlight:
    """Turn slots of a worker process, and the tasks running in them."""

    def __init__(self, limit: int) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    def __len__(self) -> int:
        return len(self._tasks)

    async def admit(self, rt: Runtime, run_id: str) -> bool:
        """Wait for a slot, claim the run and start it; False if it was not this worker's."""
        await self._slots.acquire()
        try:
            if self._closing:  # shutting down: the sweeper re-sends the queued run
                self._slots.release()
                return False
            token = rt.keeper.new_token()
            started = await claim.start(rt, run_id, token)
        except BaseException:
            self._slots.release()
            raise
        if started is None:
            self._slots.release()
            return False
        # The turn's task inherits this context: its model calls report waits to this run.
        waiting.reporter.set(waiting_reporter(rt, run_id, token))
        # The turn's task copies this context: its lines carry the conversation too.
        logcontext.bind(run_id=run_id, conversation_id=started.turn.conversation_id)
        task = asyncio.get_running_loop().create_task(run_claimed(rt, started), name=run_id)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return True

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slots.release()
        if not task.cancelled() and task.exception() is not None:
            log.error("run %s: crashed", task.get_name(), exc_info=task.exception())

    async def drain(self, grace: float) -> None:
        """Stop admitting; give running turns `grace` seconds, then hand the rest back."""
        self._closing = True
        if self._tasks:
            log.info("waiting up to %g s for %d turn(s) in flight", grace, len(self._tasks))
            await asyncio.wait(set(self._tasks), timeout=grace)
        rest = set(self._tasks)
        for task in rest:
            task.cancel()
        if rest:
            log.info("handing %d unfinished turn(s) back to the queue", len(rest))
            with contextlib.suppress(Exception):
                await asyncio.gather(*rest, return_exceptions=True)


def waiting_reporter(rt: Runtime, run_id: str, token: str) -> OnWait:
    """Writes `run.waiting` {reason, retry_after} into the run's events while this worker
    holds it; a failed write costs the run nothing but the notice."""

    async def report(reason: str, retry_after: float | None) -> None:
        data = {"reason": reason, "retry_after": retry_after}
        try:
            async with rt.database.transaction() as session:
                await store.append(session, run_id, [(RUN_WAITING, data)], holder=token)
        except Exception:
            log.warning("run %s: could not record that it waits (%s)", run_id, reason)

    return report
