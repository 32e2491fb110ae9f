"""Waiting for a run to end: the long-poll of GET /v1/runs/{id}, cancel, and the chat API."""

from __future__ import annotations

import time

from shared.db import Database
from shared.events.hub import EventHub
from shared.runs import service, states
from shared.runs.models import Run

# Re-read the run now and then even without an event (belt and braces; events wake us).
RECHECK_SECONDS = 5.0


async def wait_for_run(
    database: Database, hub: EventHub, user: str, run_id: str, wait: float
) -> Run:
    """Read the run in short transactions until it is terminal or `wait` runs out.

    No transaction stays open while waiting (SQLite would hold its write lock); the run's
    events wake the waiter.
    """
    deadline = time.monotonic() + wait
    async with hub.changes(run_id) as changed:
        while True:
            async with database.sessions() as session:
                run = await service.get(session, user, run_id)
            remaining = deadline - time.monotonic()
            if run.status in states.TERMINAL or remaining <= 0:
                return run
            await changed(min(remaining, RECHECK_SECONDS))
