"""Leases: the tokens that fence a run's writes to the worker holding it, the keeper's queries
that keep them alive, and the sweeper's take-back of the runs of a worker that went silent.

A lease token is `<worker id>.<random>`: the holding process's heartbeat row (table `workers`)
is named by the token's head, so the sweeper can tell a run whose process died (no heartbeat for
WORKER_DEAD_SECONDS) without waiting for its lease to lapse. Tokens without that shape (minted
by an earlier release) are left to their lease.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import rowcount, utcnow
from shared.runs.models import Run
from shared.runs.status import RunStatus
from shared.workers import service as workers

IN_PROGRESS = RunStatus.IN_PROGRESS
SEPARATOR = "."
TOKEN_LENGTH = 40  # the column's width


def new_token(worker_id: str) -> str:
    """A claim's lease token, naming the process that holds it."""
    if len(worker_id) != workers.ID_LENGTH:
        raise ValueError(f"a worker id has {workers.ID_LENGTH} characters: {worker_id!r}")
    rest = TOKEN_LENGTH - workers.ID_LENGTH - len(SEPARATOR)
    return f"{worker_id}{SEPARATOR}{uuid.uuid4().hex[:rest]}"


async def extend_leases(
    session: AsyncSession, leases: dict[str, str], lease_seconds: float
) -> set[str]:
    """Heartbeat: push out the leases this process holds; returns the runs it no longer holds
    (ended, or taken over by another worker after this one stalled or went silent)."""
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


async def expire_orphaned(session: AsyncSession, now: dt.datetime, dead_after: float) -> list[str]:
    """Lapse the leases of runs whose worker process has not beaten for `dead_after` seconds
    (killed, or stalled that long), so a sweep at `now` re-dispatches them; returns their ids.

    The token still fences the old holder: if it was only stalled, its next lease extension or
    write finds the run taken and it stops; if it extends first, the re-dispatch is a no-op.
    """
    owner = func.substr(Run.lease_token, 1, workers.ID_LENGTH)
    shaped = func.substr(Run.lease_token, workers.ID_LENGTH + 1, 1) == SEPARATOR
    result = await session.execute(
        update(Run)
        .where(
            Run.status == IN_PROGRESS,
            Run.lease_until >= now,
            shaped,
            ~workers.alive(owner, now, dead_after),
        )
        .values(lease_until=now - dt.timedelta(seconds=1))
        .returning(Run.id)
        .execution_options(synchronize_session=False)
    )
    return list(result.scalars())


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
