"""The status machine's transitions into and out of requires_action (a run waiting for a person
to approve tool calls), kept beside shared.runs.states and built on its guarded UPDATE.

A waiting run holds no worker, no lease and no slot of MAX_ACTIVE_RUNS_PER_USER (it may wait a
day); its conversation's later turns still wait behind it (it is ACTIVE). `lease_until` holds
the deadline of the person's decision, which the sweeper enforces (`expire`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import utcnow
from shared.dispatch import Dispatcher
from shared.events import store as events
from shared.events.schemas import RUN_QUEUED, RUN_REQUIRES_ACTION, run_data
from shared.runs import slots
from shared.runs.models import Run
from shared.runs.states import (
    CANCELLED,
    CANCELLED_ERROR,
    EXECUTE_TASK,
    FAILED,
    IN_PROGRESS,
    QUEUED,
    _last,
    _transition,
    end_unheld,
)
from shared.runs.status import RunStatus
from shared.webhooks import outbox as webhook_outbox

REQUIRES_ACTION = RunStatus.REQUIRES_ACTION
APPROVAL_EXPIRED = "approval_expired"


async def await_approval(
    session: AsyncSession,
    dispatcher: Dispatcher,
    run_id: str,
    token: str,
    tool_calls: list[dict[str, Any]],
    timeout_seconds: float,
) -> Run | None:
    """The worker holding the run gives it up until a person decides on `tool_calls`; None if
    its lease was lost or a cancel came first (the worker then stops as for any cancel)."""
    moved = await _transition(
        session,
        and_(
            Run.id == run_id,
            Run.status == IN_PROGRESS,
            Run.lease_token == token,
            Run.cancel_requested.is_(False),
        ),
        1,
        ending=True,  # for the slot it frees: a waiting run holds none
        status=REQUIRES_ACTION,
        required_action={"type": "tool_approval", "tool_calls": tool_calls},
        lease_token=None,
        lease_until=utcnow() + dt.timedelta(seconds=timeout_seconds),
        # Pausing is not a lost attempt: the resumed claim counts this one again.
        attempts=Run.attempts - 1,
    )
    if moved is None:
        return None
    run = moved.run
    await events.append(session, run.id, [(RUN_REQUIRES_ACTION, run_data(run))], last=_last(run))
    await webhook_outbox.enqueue(session, dispatcher, run)
    if moved.slot_waiter is not None:
        await slots.dispatch_waiting(session, dispatcher, run.user_id, run.conversation_id)
    return run


async def resume(session: AsyncSession, dispatcher: Dispatcher, run_id: str) -> Run | None:
    """A person decided: the run is queued again and sent to the workers after commit; None if
    it no longer waits (answered, cancelled or expired meanwhile)."""
    now = utcnow()
    moved = await _transition(
        session,
        and_(Run.id == run_id, Run.status == REQUIRES_ACTION),
        1,
        status=QUEUED,
        required_action=None,
        lease_until=None,
        resumed_at=now,
        dispatched_at=now,
    )
    if moved is None:
        return None
    run = moved.run
    await events.append(session, run.id, [(RUN_QUEUED, run_data(run))], last=_last(run))
    dispatcher.defer(EXECUTE_TASK, run.id)
    return run


async def cancel_waiting(session: AsyncSession, dispatcher: Dispatcher, run_id: str) -> Run | None:
    """Cancel a run that waits for a person; it ends at once."""
    return await _end_waiting(
        session,
        dispatcher,
        and_(Run.id == run_id, Run.status == REQUIRES_ACTION),
        CANCELLED,
        dict(CANCELLED_ERROR),
    )


async def expire(session: AsyncSession, dispatcher: Dispatcher, run_id: str) -> Run | None:
    """Fail a run nobody answered within APPROVAL_TIMEOUT_SECONDS."""
    error = {"code": APPROVAL_EXPIRED, "message": "nobody approved or rejected the calls in time"}
    guard = and_(Run.id == run_id, Run.status == REQUIRES_ACTION, Run.lease_until < utcnow())
    return await _end_waiting(session, dispatcher, guard, FAILED, error)


async def _end_waiting(
    session: AsyncSession, dispatcher: Dispatcher, guard: Any, status: RunStatus, error: Any
) -> Run | None:
    return await end_unheld(session, dispatcher, guard, status, error, required_action=None)
