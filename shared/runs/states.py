"""The run status machine: every status change is one guarded UPDATE defined here, and what an
ending owes (its events, the webhook outbox row, the conversation's next turn) happens here too,
in the same transaction, so no caller can forget it.

Each transition names the statuses it may leave, so a stale worker, a duplicate delivery or a
racing cancel changes nothing (no row returned) instead of corrupting a run. Transitions bump
the run's event counter in the same UPDATE and write their event with the id it returned.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import and_, exists, func, literal, null, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from shared.conversations.models import Message
from shared.db import UTCDateTime, rowcount, utcnow
from shared.dispatch import Dispatcher
from shared.events import store as events
from shared.events.schemas import MESSAGE_COMPLETED, RUN_IN_PROGRESS, message_data, run_data
from shared.returning import Qualified
from shared.runs import slots
from shared.runs.models import Run
from shared.runs.status import ACTIVE, TERMINAL, RunStatus
from shared.webhooks import outbox as webhook_outbox

QUEUED = RunStatus.QUEUED
IN_PROGRESS = RunStatus.IN_PROGRESS
COMPLETED = RunStatus.COMPLETED
FAILED = RunStatus.FAILED
CANCELLED = RunStatus.CANCELLED
ALL = tuple(RunStatus)
__all__ = ["ACTIVE", "TERMINAL", "RunStatus"]

EXECUTE_TASK = slots.EXECUTE_TASK
CANCELLED_ERROR = {"code": "cancelled", "message": "Run cancelled."}


async def claim(
    session: AsyncSession,
    run_id: str,
    token: str,
    lease_seconds: float,
    max_active_per_user: int = 0,
) -> Run | None:
    """Take a run for execution: queued, or in progress with a lapsed lease (its worker died).

    It must also be the oldest unfinished run of its conversation, so turns never interleave,
    and its user must have fewer than `max_active_per_user` other runs in progress (0: no cap)
    counting the user's older runs waiting for a slot, so a user's turns start in order; both
    are counted in the same UPDATE. On PostgreSQL two claims of one user in the same instant
    each count before the other commits, so the cap can be passed by the claims racing at that
    moment; SQLite's single writer makes it exact. The claim writes `run.in_progress` in the
    same transaction.
    """
    now = utcnow()
    earlier = aliased(Run)
    other_active = aliased(Run)
    moved = await _transition(
        session,
        and_(
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
                other_active.status.in_((IN_PROGRESS, RunStatus.REQUIRES_ACTION)),
                other_active.id != Run.id,
            ),
            slots.room(max_active_per_user),
        ),
        1,
        status=IN_PROGRESS,
        lease_token=token,
        lease_until=now + dt.timedelta(seconds=lease_seconds),
        attempts=Run.attempts + 1,
        started_at=func.coalesce(Run.started_at, literal(now, UTCDateTime())),
    )
    if moved is None:
        return None
    run = moved.run
    await events.append(session, run.id, [(RUN_IN_PROGRESS, run_data(run))], last=_last(run))
    return run


async def finish(
    session: AsyncSession,
    dispatcher: Dispatcher,
    run_id: str,
    token: str,
    status: RunStatus,
    *,
    message: Message | None = None,
    **fields: Any,
) -> Run | None:
    """End a run this worker holds, with its assistant message if any; None if the lease was
    lost (another worker owns it now and will record the ending)."""
    if status not in TERMINAL:
        raise ValueError(f"finish needs a terminal status, not {status!r}")
    moved = await _transition(
        session,
        and_(Run.id == run_id, Run.status == IN_PROGRESS, Run.lease_token == token),
        2 if message is not None else 1,
        ending=True,
        status=status,
        finished_at=utcnow(),
        lease_until=None,
        **fields,
    )
    if moved is None:
        return None
    before: list[tuple[str, dict[str, Any]]] = []
    if message is not None:
        session.add(message)
        before.append((MESSAGE_COMPLETED, message_data(message)))
    await _ended(session, dispatcher, moved, before)
    return moved.run


async def cancel_queued(session: AsyncSession, dispatcher: Dispatcher, run_id: str) -> Run | None:
    """Cancel a run no worker has started; it ends at once."""
    moved = await _transition(
        session,
        and_(Run.id == run_id, Run.status == QUEUED),
        1,
        ending=True,
        status=CANCELLED,
        finished_at=utcnow(),
        error={"code": "cancelled", "message": "Run cancelled before it started."},
    )
    if moved is None:
        return None
    await _ended(session, dispatcher, moved, [])
    return moved.run


async def end_abandoned(
    session: AsyncSession, dispatcher: Dispatcher, run_id: str, status: RunStatus, error: Any
) -> Run | None:
    """End a run no worker holds any more (lease lapsed): failed, or cancelled if asked."""
    if status not in (FAILED, CANCELLED):
        raise ValueError(f"an abandoned run is failed or cancelled, not {status!r}")
    guard = and_(Run.id == run_id, Run.status == IN_PROGRESS, Run.lease_until < utcnow())
    return await end_unheld(session, dispatcher, guard, status, error)


async def end_unheld(
    session: AsyncSession,
    dispatcher: Dispatcher,
    guard: Any,
    status: RunStatus,
    error: Any,
    **fields: Any,
) -> Run | None:
    """End a run no worker is turning (`guard` says which), with everything an ending owes."""
    moved = await _transition(
        session,
        guard,
        1,
        ending=True,
        status=status,
        finished_at=utcnow(),
        lease_until=None,
        error=error,
        **fields,
    )
    if moved is None:
        return None
    await _ended(session, dispatcher, moved, [])
    return moved.run


async def release_for_retry(
    session: AsyncSession, dispatcher: Dispatcher, run_id: str, token: str, delay: float
) -> bool:
    """Give a run up after a transient failure: its lease lapses now and a retry is sent."""
    result = await session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == IN_PROGRESS, Run.lease_token == token)
        .values(lease_until=utcnow() - dt.timedelta(seconds=1), dispatched_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) != 1:
        return False
    dispatcher.defer(EXECUTE_TASK, run_id, countdown=delay)
    return True


async def request_cancel(session: AsyncSession, run_id: str) -> bool:
    """Flag a running run; its worker notices within a heartbeat and stops."""
    result = await session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == IN_PROGRESS)
        .values(cancel_requested=True)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


def dispatch(run: Run, dispatcher: Dispatcher) -> None:
    """Send a queued run to the workers once the unit of work commits."""
    run.dispatched_at = utcnow()
    dispatcher.defer(EXECUTE_TASK, run.id)


async def dispatch_next(
    session: AsyncSession, dispatcher: Dispatcher, conversation_id: str
) -> str | None:
    """Send the conversation's next turn if it is queued and nothing runs before it."""
    head = (
        select(Run.id)
        .where(Run.conversation_id == conversation_id, Run.status.in_(ACTIVE))
        .order_by(Run.id)
        .limit(1)
        .scalar_subquery()
    )
    result = await session.execute(
        update(Run)
        .where(Run.id == head, Run.status == QUEUED)
        .values(dispatched_at=utcnow())
        .returning(Run.id)
        .execution_options(synchronize_session=False)
    )
    run_id = result.scalar_one_or_none()
    if run_id is not None:
        dispatcher.defer(EXECUTE_TASK, run_id)
    return run_id


@dataclass(frozen=True)
class Moved:
    """A run just moved to a new status, its conversation's next queued run if any, and (for
    an ending) its user's run that waits for the slot the ending freed."""

    run: Run
    next_queued: str | None
    slot_waiter: str | None


async def _transition(
    session: AsyncSession, guard: Any, new_events: int, *, ending: bool = False, **values: Any
) -> Moved | None:
    """One guarded UPDATE … RETURNING the run; it reserves ids for the events it will write."""
    waiter = slots.freed(slots.cap()) if ending else null().label("slot_waiter")
    result = await session.execute(
        update(Run)
        .where(guard)
        .values(last_event_seq=Run.last_event_seq + new_events, **values)
        .returning(Run, _next_queued(), waiter)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    row = result.first()
    return None if row is None else Moved(cast(Run, row[0]), row[1], row[2])


def _next_queued() -> Any:
    """The conversation's oldest other queued run, read in the same statement as the ending
    (so an ending with nobody waiting costs no extra query)."""
    other = aliased(Run)
    subquery = (
        select(other.id)
        .where(
            other.conversation_id == Run.conversation_id,
            other.status == QUEUED,
            other.id != Run.id,
        )
        .order_by(other.id)
        .limit(1)
        .scalar_subquery()
    )
    return Qualified(subquery).label("next_queued")


def _last(run: Run) -> int:
    return int(run.last_event_seq)


async def _ended(
    session: AsyncSession,
    dispatcher: Dispatcher,
    moved: Moved,
    before: Sequence[tuple[str, dict[str, Any]]],
) -> None:
    """What every ending owes, in its own transaction: the events (the terminal one last), the
    webhook outbox row, the dispatch of the conversation's next queued turn, and of the user's
    turn that waited for the slot this run held (however the run ended, in whichever process)."""
    run = moved.run
    items = [*before, (f"run.{run.status}", run_data(run))]
    await events.append(session, run.id, items, last=_last(run))
    await webhook_outbox.enqueue(session, dispatcher, run)
    if moved.next_queued is not None:
        await dispatch_next(session, dispatcher, run.conversation_id)
    if moved.slot_waiter is not None:
        await slots.dispatch_waiting(session, dispatcher, run.user_id, run.conversation_id)
