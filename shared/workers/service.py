"""Write a worker's heartbeat; read which workers were seen recently."""

from __future__ import annotations

import datetime as dt
import os
import socket
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import rowcount, utcnow
from shared.workers.models import WorkerBeat


def identity() -> str:
    """This process's row key: its host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


async def beat(session: AsyncSession, worker_id: str, turns_in_flight: int) -> None:
    """Record that this process is alive (only this process writes its row: no race)."""
    now = utcnow()
    result = await session.execute(
        sa.update(WorkerBeat)
        .where(WorkerBeat.id == worker_id)
        .values(seen_at=now, turns_in_flight=turns_in_flight)
    )
    if rowcount(result) == 0:
        hostname, _, pid = worker_id.rpartition(":")
        session.add(
            WorkerBeat(
                id=worker_id,
                hostname=hostname,
                pid=int(pid),
                turns_in_flight=turns_in_flight,
                started_at=now,
                seen_at=now,
            )
        )
        await session.flush()


async def forget(session: AsyncSession, worker_id: str) -> None:
    """A cleanly stopped process leaves no row behind."""
    await session.execute(sa.delete(WorkerBeat).where(WorkerBeat.id == worker_id))


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
