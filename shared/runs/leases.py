"""The lease keeper's queries: push out the leases a worker process holds, and find which of
its runs a client asked to cancel."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import rowcount, utcnow
from shared.runs.models import Run
from shared.runs.status import RunStatus

IN_PROGRESS = RunStatus.IN_PROGRESS


async def extend_leases(
    session: AsyncSession, leases: dict[str, str], lease_seconds: float
) -> set[str]:
    """Heartbeat: push out the leases this process holds; returns the runs it no longer holds
    (ended, or taken over by another worker after this one stalled past its lease)."""
    until = utcnow() + dt.timedelta(seconds=lease_seconds)
    lost: set[str] = set()
    for run_id, token in leases.items():
        result = await session.execute(
            update(Run)
            .where(Run.id == run_id, Run.status == IN_PROGRESS, Run.lease_token == token)
            .values(lease_until=until)
            .execution_options(synchronize_session=False)
        )
        if rowcount(result) != 1:
            lost.add(run_id)
    return lost


async def cancel_requested_among(session: AsyncSession, run_ids: list[str]) -> set[str]:
    """Which of these running runs a client asked to cancel."""
    if not run_ids:
        return set()
    rows = await session.execute(
        select(Run.id).where(
            Run.id.in_(run_ids), Run.cancel_requested.is_(True), Run.status == IN_PROGRESS
        )
    )
    return set(rows.scalars())
