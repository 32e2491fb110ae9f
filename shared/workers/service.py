"""Write a worker's heartbeat; read which workers were seen recently, and which went silent."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import rowcount, utcnow
from shared.workers.models import WorkerBeat

# A worker process's id: random per process life, so a restarted process (same host and pid,
# as in a container) never passes for the one that died; short enough to head a lease token.
ID_LENGTH = 16
# A silent worker's row is kept this long (so /readyz can say when one was last seen).
FORGET_AFTER = dt.timedelta(days=1)


def new_id() -> str:
    """A fresh id for this process's heartbeat row (its host and pid are columns of the row)."""
    return secrets.token_hex(ID_LENGTH // 2)


async def beat(session: AsyncSession, worker_id: str, turns_in_flight: int) -> None:
    """Record that this process is alive (only this process writes its row: no race)."""
    now = utcnow()
    result = await session.execute(
        sa.update(WorkerBeat)
        .where(WorkerBeat.id == worker_id)
        .values(seen_at=now, turns_in_flight=turns_in_flight)
    )
    if rowcount(result) == 0:
        session.add(
            WorkerBeat(
                id=worker_id,
                hostname=socket.gethostname(),
                pid=os.getpid(),
                turns_in_flight=turns_in_flight,
                started_at=now,
                seen_at=now,
            )
        )
        await session.flush()


async def forget(session: AsyncSession, worker_id: str) -> None:
    """A cleanly stopped process leaves no row behind."""
    await session.execute(sa.delete(WorkerBeat).where(WorkerBeat.id == worker_id))


async def forget_long_silent(session: AsyncSession, now: dt.datetime) -> None:
    """Drop the rows of processes that died (no clean stop) a long time ago."""
    await session.execute(sa.delete(WorkerBeat).where(WorkerBeat.seen_at < now - FORGET_AFTER))


def alive(worker_id: Any, now: dt.datetime, dead_after: float) -> Any:
    """SQL: the worker `worker_id` (an expression) beat within the last `dead_after` seconds."""
    return sa.exists().where(
        WorkerBeat.id == worker_id,
        WorkerBeat.seen_at >= now - dt.timedelta(seconds=dead_after),
    )


async def seen(session: AsyncSession, stale_seconds: float) -> dict[str, Any]:
    """How many workers beat within `stale_seconds`, their turns, and the last beat of any."""
    since = utcnow() - dt.timedelta(seconds=stale_seconds)
    live = sa.select(
        sa.func.count(), sa.func.coalesce(sa.func.sum(WorkerBeat.turns_in_flight), 0)
    ).where(WorkerBeat.seen_at >= since)
    count, turns = (await session.execute(live)).one()
    last = await session.scalar(sa.select(sa.func.max(WorkerBeat.seen_at)))
    return {
        "ok": count > 0,
        "live": int(count),
        "turns_in_flight": int(turns),
        "last_seen_at": last.isoformat() if last is not None else None,
        "stale_after_seconds": stale_seconds,
    }
