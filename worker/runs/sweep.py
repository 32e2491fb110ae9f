"""The sweeper: no run stays queued or in progress forever, whatever the broker or a dead
worker lost. It runs every SWEEP_INTERVAL_SECONDS; a dead worker's turns are re-sent at the
first sweep after its heartbeat is WORKER_DEAD_SECONDS old, not when their leases lapse."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import utcnow
from shared.dispatch import Dispatcher
from shared.runs import leases, pauses, states
from shared.runs.models import Run
from shared.uow import unit_of_work
from shared.workers import service as workers
from worker.runtime import Runtime

log = logging.getLogger(__name__)

BATCH = 500


async def sweep(rt: Runtime) -> dict[str, int]:
    """Re-dispatch lost runs, end runs whose workers keep dying; returns counts."""
    settings = rt.settings
    now = utcnow()
    counts = {"orphaned": 0, "redispatched": 0, "failed": 0, "cancelled": 0, "expired": 0}
    async with unit_of_work(rt.database) as uow:
        session, dispatcher = uow.session, uow.dispatcher
        if not await _only_sweeper(session):
            return counts
        # Silence counts only while this process's own beats go through: after a database
        # outage every heartbeat is old, and the live workers need a moment to beat again.
        dead_after = settings.worker_dead_after
        if rt.keeper.steady_for() >= dead_after:
            orphaned = await leases.expire_orphaned(session, now, dead_after)
            if orphaned:
                log.warning("sweep: the worker holding %s went silent; re-sending", orphaned)
            counts["orphaned"] = len(orphaned)
            await workers.forget_long_silent(session, now)
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
                ended = await states.end_abandoned(
                    session, dispatcher, run.id, states.CANCELLED, dict(states.CANCELLED_ERROR)
                )
                counts["cancelled"] += ended is not None
            elif run.attempts >= settings.run_max_attempts:
                lost = f"the worker running this turn was lost {run.attempts} times"
                ended = await states.end_abandoned(
                    session,
                    dispatcher,
                    run.id,
                    states.FAILED,
                    {"code": "worker_lost", "message": lost},
                )
                counts["failed"] += ended is not None
            else:
                states.dispatch(run, dispatcher)
                counts["redispatched"] += 1

        counts["expired"] = await _expire_approvals(session, dispatcher, now)

        stale = now - dt.timedelta(seconds=settings.run_redispatch_seconds)
        queued = (
            await session.execute(
                select(Run.id, Run.conversation_id)
                .where(
                    Run.status == states.QUEUED,
                    (Run.dispatched_at.is_(None)) | (Run.dispatched_at < stale),
                )
                .order_by(Run.id)
                .limit(BATCH)
            )
        ).all()
        for run_id, conversation_id in queued:
            head = await states.dispatch_next(session, dispatcher, conversation_id)
            counts["redispatched"] += head == run_id
    # A conversation's head may be queued twice in this batch; the claim makes that harmless.
    if any(counts.values()):
        log.info("sweep: %s", counts)
    return counts


async def _expire_approvals(session: AsyncSession, dispatcher: Dispatcher, now: dt.datetime) -> int:
    """Fail the runs nobody approved or rejected in time (APPROVAL_TIMEOUT_SECONDS)."""
    overdue = (
        await session.execute(
            select(Run.id)
            .where(Run.status == pauses.REQUIRES_ACTION, Run.lease_until < now)
            .order_by(Run.id)
            .limit(BATCH)
        )
    ).scalars()
    expired = 0
    for run_id in list(overdue):
        expired += await pauses.expire(session, dispatcher, run_id) is not None
    return expired


# Any constant shared by all sweepers: the advisory lock that lets one sweep run at a time.
SWEEP_LOCK_KEY = 0x5041524C4559  # "PARLEY"


async def _only_sweeper(session: AsyncSession) -> bool:
    """One sweep at a time across all workers (PostgreSQL advisory lock; SQLite serialises)."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    got = await session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": SWEEP_LOCK_KEY})
    return bool(got)
