"""The per-user cap's other half: a run the cap turned away starts when one of its user's turns
ends, not a sweep interval later.

The claim refuses a run whose user already has MAX_ACTIVE_RUNS_PER_USER turns in progress, or
would have with their older waiting runs (one guarded UPDATE, shared.runs.states.claim); the
refused run stays queued, in order. A refusal costs one more query, off the hot path, to tell
a wait for a slot from the other reasons (ended, held elsewhere, waiting its conversation's
turn); a user with runs waiting for a slot is remembered by this process, and
each of that user's turns ending here sends the user's oldest waiting run in the ending's own
transaction. Another process's refusals are not seen here, so the sweeper's re-dispatch of
queued runs (RUN_REDISPATCH_SECONDS) stays the backstop: no run waits forever.
"""

from __future__ import annotations

import datetime as dt
import time

from sqlalchemy import exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from shared.db import utcnow
from shared.dispatch import Dispatcher
from shared.runs import states
from shared.runs.models import Run
from shared.runs.status import ACTIVE

# Users this process saw at their cap, and when; forgotten once nothing of theirs waits.
_capped: dict[str, float] = {}
REMEMBER_SECONDS = 600.0
# How long a run an ending picked is passed over by the next endings (its claim takes ms).
PICK_HOLD_SECONDS = 5.0


async def note_refusal(session: AsyncSession, run_id: str, cap: int) -> bool:
    """After a refused claim: remember the run's user if the run waits for one of their slots
    (still queued and first in its conversation: the cap, or older runs waiting for it)."""
    if cap <= 0:
        return False
    run = aliased(Run)
    before = aliased(Run)
    row = await session.execute(
        select(run.user_id).where(
            run.id == run_id,
            run.status == states.QUEUED,
            run.cancel_requested.is_(False),
            ~exists().where(
                before.conversation_id == run.conversation_id,
                before.status.in_(ACTIVE),
                before.id < run.id,
            ),
        )
    )
    user_id = row.scalar_one_or_none()
    if user_id is None:
        return False
    _capped[user_id] = time.monotonic()
    return True


def waiting(user_id: str) -> bool:
    """Whether this user may have runs waiting on the cap (seen here recently)."""
    seen = _capped.get(user_id)
    if seen is None:
        return False
    if time.monotonic() - seen > REMEMBER_SECONDS:
        del _capped[user_id]
        return False
    return True


async def dispatch_waiting(
    session: AsyncSession, dispatcher: Dispatcher, user_id: str
) -> str | None:
    """Send the user's oldest queued run that heads its conversation (a slot just freed).

    Concurrent endings skip each other's pick (SKIP LOCKED on PostgreSQL), and a pick is
    stamped `dispatched_at` a few seconds ahead so the endings right after it (SQLite's writers
    come one after another) pass over it while its message travels: each freed slot sends a
    different run. The sweeper's stale check still covers a pick whose message is lost.
    """
    now = utcnow()
    queued = aliased(Run)
    before = aliased(Run)
    pick = (
        select(queued.id)
        .where(
            queued.user_id == user_id,
            queued.status == states.QUEUED,
            or_(queued.dispatched_at.is_(None), queued.dispatched_at <= now),
            ~exists().where(
                before.conversation_id == queued.conversation_id,
                before.status.in_(ACTIVE),
                before.id < queued.id,
            ),
        )
        .order_by(queued.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    result = await session.execute(
        update(Run)
        .where(Run.id == pick, Run.status == states.QUEUED)
        .values(dispatched_at=now + dt.timedelta(seconds=PICK_HOLD_SECONDS))
        .returning(Run.id)
        .execution_options(synchronize_session=False)
    )
    run_id = result.scalar_one_or_none()
    if run_id is None:
        _capped.pop(user_id, None)
    else:
        dispatcher.defer(states.EXECUTE_TASK, run_id)
    return run_id
