"""Jobs buffered during a unit of work and sent only after it commits (dropped on rollback)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

# A job this process runs itself on its own loop, instead of a trip through the broker.
LocalHandler = Callable[[str], Awaitable[object]]


@dataclass
class Dispatcher:
    """Collects task sends; `flush` after commit, `discard` on rollback.

    `local` maps task names this process handles itself (the worker sends the webhook of a run
    it just ended straight from its loop); every other job goes to the broker. Either way the
    durable row behind the job (the queued run, the outbox message) is already committed, so a
    job lost here is found again by a sweeper.
    """

    local: Mapping[str, LocalHandler] = field(default_factory=dict)
    pending: list[Job] = field(default_factory=list)

    def defer(self, task_name: str, *args: str, countdown: float | None = None) -> None:
        self.pending.append(Job(task_name, args, countdown))

    def discard(self) -> None:
        self.pending.clear()

    async def flush(self) -> None:
        """Start local jobs, then publish the rest in one hop off the loop (broker I/O blocks)."""
        jobs, self.pending = self.pending, []
        remote: list[Job] = []
        for job in jobs:
            handler = self.local.get(job.task_name)
            if handler is not None and len(job.args) == 1 and job.countdown is None:
                await handler(job.args[0])
            else:
                remote.append(job)
        if remote:
            await asyncio.to_thread(_publish, remote)


@dataclass(frozen=True)
class Job:
    """A task to send by name, with string arguments (ids: tasks re-load their rows)."""

    task_name: str
    args: tuple[str, ...]
    countdown: float | None = None


def _publish(jobs: list[Job]) -> None:
    from shared.celery_app import send

    for job in jobs:
        send(job.task_name, *job.args, countdown=job.countdown)
