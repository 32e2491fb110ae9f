"""The run status machine: every status change is one guarded UPDATE defined here.

Each transition names the statuses it may leave, so a stale worker, a duplicate delivery or a
racing cancel changes nothing (rowcount 0) instead of corrupting a run.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from shared.db import utcnow
from shared.runs.models import Run

QUEUED = "queued"
IN_PROGRESS = "in_progress"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED})
ACTIVE = frozenset({QUEUED, IN_PROGRESS})
ALL = (QUEUED, IN_PROGRESS, COMPLETED, FAILED, CANCELLED)


async def claim(session: AsyncSession, run_id: str, token: str, lease_seconds: float) -> Run | None:
    """Take a run for execution: queued, or in progress with a lapsed lease (its worker died).

    It must also be the oldest unfinished run of its conversation, so turns never interleave.
    """
    now = utcnow()
    earlier = aliased(Run)
    other_active = aliased(Run)
    result = await session.execute(
        update(Run)
        .where(
            Run.id == run_id,
            Run.cancel_requested.is_(False),
            or_(
                Run.status == QUEUED,
                and_(Run.status == IN_PROGRESS, Run.lease_until < now),
            ),
            ~exists().where(
                earlier.conversation_id == Run.conversation_id,
                earlier.status == QUEUED,
                earlier.id < Run.id,
            ),
            ~exists().where(
                other_active.conversation_id == Run.conversation_id,
                other_active.status == IN_PROGRESS,
                other_active.id != Run.id,
            ),
        )
        .values(
            status=IN_PROGRESS,
            lease_token=token,
            lease_until=now + dt.timedelta(seconds=lease_seconds),
            attempts=Run.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if _rowcount(result) != 1:
        return None
    run = await session.get(Run, run_id, populate_existing=True)
    if run is not None and run.started_at is None:
        run.started_at = now
    return run


async def finish(
    session: AsyncSession, run_id: str, token: str, status: str, **fields: Any
) -> bool:
    """End a run this worker holds; False if the lease was lost (another worker owns it)."""
    assert status in TERMINAL
    result = await session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == IN_PROGRESS, Run.lease_token == token)
        .values(status=status, finished_at=utcnow(), lease_until=None, **fields)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


async def cancel_queued(session: AsyncSession, run_id: str) -> bool:
    """Cancel a run no worker has started; it ends at once."""
    result = await session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == QUEUED)
        .values(
            status=CANCELLED,
            finished_at=utcnow(),
            error={"code": "cancelled", "message": "Run cancelled before it started."},
        )
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


async def request_cancel(session: AsyncSession, run_id: str) -> bool:
    """Flag a running run; its worker notices within a heartbeat and stops."""
    result = await session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == IN_PROGRESS)
        .values(cancel_requested=True)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


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
        if _rowcount(result) != 1:
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


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


async def expire_lease(session: AsyncSession, run_id: str, token: str) -> bool:
    """Give a run up after a transient failure: its lease lapses now, so a retry may claim it."""
    result = await session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == IN_PROGRESS, Run.lease_token == token)
        .values(lease_until=utcnow() - dt.timedelta(seconds=1))
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


async def end_abandoned(
    session: AsyncSession, run_id: str, status: str, error: dict[str, Any]
) -> bool:
    """End a run no worker holds any more (lease lapsed): failed, or cancelled if asked."""
    assert status in (FAILED, CANCELLED)
    now = utcnow()
    result = await session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == IN_PROGRESS, Run.lease_until < now)
        .values(status=status, finished_at=now, lease_until=None, error=error)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1
