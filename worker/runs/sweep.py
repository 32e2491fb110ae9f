"""The sweeper: no run stays queued or in progress forever, whatever the broker lost."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import utcnow
from shared.dispatch import Dispatcher
from shared.runs import service as runs_service
from shared.runs import states
from shared.runs.models import Run
from worker.runtime import Runtime

log = logging.getLogger(__name__)

BATCH = 500


async def sweep(rt: Runtime) -> dict[str, int]:
    """Re-dispatch lost runs, end runs whose workers keep dying; returns counts."""
    settings = rt.settings
    now = utcnow()
    counts = {"redispatched": 0, "failed": 0, "cancelled": 0}
    dispatcher = Dispatcher()
    async with rt.database.transaction() as session:
        if not await _only_sweeper(session):
            return counts
        lapsed = (
            (
                await session.execute(
                    select(Run)
                    .where(Run.status == states.IN_PROGRESS, Run.lease_until < now)
                    .order_by(Run.id)
                    .limit(BATCH)
                )
            )
            .scalars()
            .all()
        )
        for run in lapsed:
            if run.cancel_requested:
                if await states.end_abandoned(
                    session,
                    run.id,
                    states.CANCELLED,
                    {"code": "cancelled", "message": "Run cancelled."},
                ):
                    counts["cancelled"] += 1
                    await runs_service.run_ended(session, dispatcher, run.id)
            elif run.attempts >= settings.run_max_attempts:
                if await states.end_abandoned(
                    session,
                    run.id,
                    states.FAILED,
                    {
                        "code": "worker_lost",
                        "message": f"the worker running this turn was lost {run.attempts} times",
                    },
                ):
                    counts["failed"] += 1
                    await runs_service.run_ended(session, dispatcher, run.id)
            else:
                run.dispatched_at = now
                dispatcher.defer(runs_service.EXECUTE_TASK, run.id)
                counts["redispatched"] += 1

        stale = now - dt.timedelta(seconds=settings.run_redispatch_seconds)
        queued = (
            (
                await session.execute(
                    select(Run)
                    .where(
                        Run.status == states.QUEUED,
                        (Run.dispatched_at.is_(None)) | (Run.dispatched_at < stale),
                    )
                    .order_by(Run.id)
                    .limit(BATCH)
                )
            )
            .scalars()
            .all()
        )
        for run in queued:
            head = await runs_service.dispatch_next(session, dispatcher, run.conversation_id)
            if head is not None and head.id == run.id:
                counts["redispatched"] += 1
    # A conversation's head may be queued twice in this batch; the claim makes that harmless.
    await dispatcher.flush()
    if any(counts.values()):
        log.info("sweep: %s", counts)
    return counts


# Any constant shared by all sweepers: the advisory lock that lets one sweep run at a time.
SWEEP_LOCK_KEY = 0x5041524C4559  # "PARLEY"


async def _only_sweeper(session: AsyncSession) -> bool:
    """One sweep at a time across all workers (PostgreSQL advisory lock; SQLite serialises)."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    got = await session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": SWEEP_LOCK_KEY})
    return bool(got)
