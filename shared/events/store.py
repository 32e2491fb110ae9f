"""The durable event log: numbered appends, reads after N, and pruning after retention.

Ids come from one counter row per run, bumped with an upsert in the writer's own transaction:
the row lock orders concurrent writers (the API's `run.queued`/`run.cancelled`, the worker,
the sweeper) and a rollback gives the ids back, so every run reads 1, 2, 3 … with no gap.
Events appended in a transaction are handed to the session's event bus after it commits
(never before: a client must not see an event that could still roll back).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import delete, event, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from shared.db import utcnow
from shared.events.models import EventStream, RunEvent
from shared.events.schemas import TERMINAL_TYPES, Event

log = logging.getLogger(__name__)

# Keys in Session.info: the process's bus (set by `attach_bus`) and this transaction's events.
BUS_KEY = "parley.event_bus"
PENDING_KEY = "parley.pending_events"
READ_PAGE = 1000


class CommittedEventSink(Protocol):
    """Receives events once the transaction that wrote them has committed."""

    def publish_soon(self, events: list[Event]) -> None: ...


async def append(
    session: AsyncSession, run_id: str, items: Sequence[tuple[str, dict[str, Any]]]
) -> list[Event]:
    """Append events to a run's log in this transaction; returns them with their ids."""
    if not items:
        return []
    ended = any(kind in TERMINAL_TYPES for kind, _ in items)
    last = await _reserve(session, run_id, len(items), ended)
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


async def _reserve(session: AsyncSession, run_id: str, count: int, ended: bool) -> int:
    """Bump the run's counter by `count` (creating it at 0) and return the new last id."""
    dialect = session.get_bind().dialect.name
    builder: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    changes: dict[str, Any] = {"last_seq": EventStream.last_seq + count}
    values: dict[str, Any] = {"run_id": run_id, "last_seq": count}
    if ended:
        changes["ended_at"] = values["ended_at"] = utcnow()
    statement = (
        builder(EventStream)
        .values(**values)
        .on_conflict_do_update(index_elements=[EventStream.run_id], set_=changes)
        .returning(EventStream.last_seq)
    )
    return int((await session.execute(statement)).scalar_one())


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
    """The newest event id of each run that has a log (runs without one are absent)."""
    if not run_ids:
        return {}
    rows = await session.execute(
        select(EventStream.run_id, EventStream.last_seq).where(EventStream.run_id.in_(run_ids))
    )
    return {run_id: int(last) for run_id, last in rows}


async def prune(session: AsyncSession, ended_before: dt.datetime, batch: int) -> int:
    """Delete the events of up to `batch` runs that ended before the cutoff; returns runs pruned.

    The counter row stays (with `pruned_at`), so a late reader still learns the last id.
    """
    run_ids = list(
        (
            await session.execute(
                select(EventStream.run_id)
                .where(EventStream.ended_at < ended_before)
                .order_by(EventStream.ended_at)
                .limit(batch)
            )
        ).scalars()
    )
    if not run_ids:
        return 0
    await session.execute(delete(RunEvent).where(RunEvent.run_id.in_(run_ids)))
    await session.execute(
        update(EventStream)
        .where(EventStream.run_id.in_(run_ids))
        .values(ended_at=None, pruned_at=utcnow())
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
