"""The durable event log: numbered appends, reads after N, and pruning after retention.

Ids come from the run's own counter (`runs.last_event_seq`), bumped in the writer's
transaction: the row lock orders concurrent writers (the API's `run.queued`/`run.cancelled`,
the worker, the sweeper) and a rollback gives the ids back, so every run reads 1, 2, 3 … with
no gap. A status change bumps the counter in its own UPDATE (shared.runs.states) and passes
the id it got as `last`, so most events cost one INSERT and nothing more.
Events appended in a transaction are handed to the session's event bus after it commits
(never before: a client must not see an event that could still roll back).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import delete, event, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from shared.db import utcnow
from shared.events.models import RunEvent
from shared.events.schemas import Event
from shared.runs.models import Run
from shared.runs.status import RunStatus

log = logging.getLogger(__name__)

# Keys in Session.info: the process's bus (set by `attach_bus`) and this transaction's events.
BUS_KEY = "parley.event_bus"
PENDING_KEY = "parley.pending_events"
READ_PAGE = 1000


class CommittedEventSink(Protocol):
    """Receives events once the transaction that wrote them has committed."""

    def publish_soon(self, events: list[Event]) -> None: ...


async def append(
    session: AsyncSession,
    run_id: str,
    items: Sequence[tuple[str, dict[str, Any]]],
    *,
    last: int | None = None,
    holder: str | None = None,
) -> list[Event]:
    """Append events to a run's log in this transaction; returns them with their ids.

    `last`: the id the caller already reserved for the last item (its UPDATE bumped the
    counter). `holder`: reserve only while that lease token holds the run in progress; a writer
    that lost its run gets [] and writes nothing.
    """
    if not items:
        return []
    if last is None:
        reserved = await _reserve(session, run_id, len(items), holder)
        if reserved is None:
            return []
        last = reserved
    first = last - len(items) + 1
    now = utcnow()
    events = [Event(run_id, first + i, kind, data) for i, (kind, data) in enumerate(items)]
    await session.execute(
        insert(RunEvent),
        [
            {"run_id": run_id, "seq": e.id, "type": e.type, "data": e.data, "created_at": now}
            for e in events
        ],
    )
    session.sync_session.info.setdefault(PENDING_KEY, []).extend(events)
    return events


async def _reserve(
    session: AsyncSession, run_id: str, count: int, holder: str | None
) -> int | None:
    """Bump the run's counter by `count` and return the new last id (None: not held)."""
    statement = update(Run).where(Run.id == run_id)
    if holder is not None:
        statement = statement.where(Run.status == RunStatus.IN_PROGRESS, Run.lease_token == holder)
    result = await session.execute(
        statement.values(last_event_seq=Run.last_event_seq + count)
        .returning(Run.last_event_seq)
        .execution_options(synchronize_session=False)
    )
    value = result.scalar_one_or_none()
    return None if value is None else int(value)


async def read(
    session: AsyncSession, run_id: str, after: int, limit: int = READ_PAGE
) -> list[Event]:
    """A run's events with id > `after`, oldest first, at most `limit`."""
    rows = await session.execute(
        select(RunEvent.seq, RunEvent.type, RunEvent.data)
        .where(RunEvent.run_id == run_id, RunEvent.seq > after)
        .order_by(RunEvent.seq)
        .limit(limit)
    )
    return [Event(run_id, seq, kind, data) for seq, kind, data in rows]


async def last_ids(session: AsyncSession, run_ids: Sequence[str]) -> dict[str, int]:
    """The newest event id of each run (runs that no longer exist are absent)."""
    if not run_ids:
        return {}
    rows = await session.execute(select(Run.id, Run.last_event_seq).where(Run.id.in_(run_ids)))
    return {run_id: int(last) for run_id, last in rows}


async def prune(session: AsyncSession, ended_before: dt.datetime, batch: int) -> int:
    """Delete the events of up to `batch` runs that ended before the cutoff; returns runs pruned.

    The run keeps its counter (and `events_pruned_at`), so a late reader still learns the last id.
    """
    run_ids = list(
        (
            await session.execute(
                select(Run.id)
                .where(Run.finished_at < ended_before, Run.events_pruned_at.is_(None))
                .order_by(Run.finished_at)
                .limit(batch)
            )
        ).scalars()
    )
    if not run_ids:
        return 0
    await session.execute(delete(RunEvent).where(RunEvent.run_id.in_(run_ids)))
    await session.execute(
        update(Run)
        .where(Run.id.in_(run_ids))
        .values(events_pruned_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return len(run_ids)


def attach_bus(sessions: Any, bus: CommittedEventSink) -> None:
    """Make every session of this factory hand its committed events to `bus`."""
    sessions.configure(info={BUS_KEY: bus})


@event.listens_for(Session, "after_commit")
def _publish_committed(session: Session) -> None:
    events = session.info.pop(PENDING_KEY, None)
    bus = session.info.get(BUS_KEY)
    if events and bus is not None:
        bus.publish_soon(events)


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(PENDING_KEY, None)


@event.listens_for(Session, "after_begin")
def _start_clean(session: Session, _transaction: Any, _connection: Any) -> None:
    # Events of a transaction that neither committed nor rolled back (a closed session) must
    # not leak into the next one.
    session.info.pop(PENDING_KEY, None)
