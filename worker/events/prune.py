"""Retention: a finished run's events stay replayable for EVENT_RETENTION_HOURS, then go."""

from __future__ import annotations

import datetime as dt
import logging

from shared.db import utcnow
from shared.events import store
from worker.runtime import Runtime

log = logging.getLogger(__name__)

BATCH_RUNS = 200
MAX_BATCHES = 50


async def prune_events(rt: Runtime) -> int:
    """Delete the events of runs that ended before the retention cutoff; returns runs pruned.

    Small batches, one transaction each, so a backlog never holds a long lock on the log.
    """
    cutoff = utcnow() - dt.timedelta(hours=rt.settings.event_retention_hours)
    total = 0
    for _ in range(MAX_BATCHES):
        async with rt.database.transaction() as session:
            pruned = await store.prune(session, cutoff, BATCH_RUNS)
        total += pruned
        if pruned < BATCH_RUNS:
            break
    if total:
        log.info("events.prune: deleted the events of %d run(s) ended before %s", total, cutoff)
    return total
