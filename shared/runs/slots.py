"""The per-user cap (MAX_ACTIVE_RUNS_PER_USER) in SQL: whether a claim has a slot, and which
waiting run an ending's freed slot goes to, whichever process ends the run.

A user's slots are their runs in progress. A queued run that heads its conversation waits for a
slot when the claim refuses it for the cap; it does not overtake the user's older waiting runs.
Every ending (the worker's finish, a cancel from the API, the sweeper's end of an abandoned run)
reads in its own UPDATE … RETURNING whether it freed the slot such a run waits for, and if so
the status machine sends the oldest one in the same transaction. A run so picked is stamped
`dispatched_at` a few seconds ahead (a "held" pick): it counts as taking a slot until its claim,
so the endings right after it send other runs. The sweeper's re-dispatch of stale queued runs
stays the backstop for a pick whose message is lost.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, case, exists, func, literal, null, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from shared.config import get_settings
from shared.db import UTCDateTime, utcnow
from shared.dispatch import Dispatcher
from shared.returning import Qualified
from shared.runs.models import Run
from shared.runs.status import ACTIVE, RunStatus

QUEUED = RunStatus.QUEUED
IN_PROGRESS = RunStatus.IN_PROGRESS
EXECUTE_TASK = "runs.execute"
# How long a run an ending picked is passed over by the next endings (its claim takes ms).
PICK_HOLD_SECONDS = 5.0


def cap() -> int:
    """The per-user cap every process reads from the same settings (0: no cap)."""
    return get_settings().max_active_runs_per_user


def room(max_active_per_user: int) -> Any:
    """The claim's condition: its user has fewer than `max_active_per_user` other runs in
    progress, counting the user's older runs waiting for a slot (0: always room)."""
    if max_active_per_user <= 0:
        return true()
    mine, waiting = aliased(Run), aliased(Run)
    running = (
        select(func.count())
        .where(mine.user_id == Run.user_id, mine.status == IN_PROGRESS, mine.id != Run.id)
        .scalar_subquery()
    )
    # The user's older runs that wait only for a slot: a run does not overtake them, so it
    # starts only if there is room for them as well.
    ahead = (
        select(func.count())
        .where(
            waiting.user_id == Run.user_id,
            waiting.status == QUEUED,
            waiting.id < Run.id,
            _heads_conversation(waiting),
        )
        .scalar_subquery()
    )
    # A run taken over after its worker died holds its slot already.
    return or_(Run.status == IN_PROGRESS, running + ahead < max_active_per_user)


def freed(max_active_per_user: int) -> Any:
    """For an ending's RETURNING: the oldest run of the ending run's user (in another
    conversation: the conversation's own next turn is sent anyway) that waits for the slot
    this ending frees; NULL when nobody waits or the user was below the cap before.

    The user was at the cap when the runs taking their slots without this one (in progress, or
    picked and on their way) number cap - 1; below that, a queued run is on its way to a claim
    that will admit it, not waiting.
    """
    if max_active_per_user <= 0:
        return null().label("slot_waiter")
    now = utcnow()
    other = aliased(Run)
    occupied = (
        select(func.count())
        .where(
            other.user_id == Run.user_id,
            other.id != Run.id,
            or_(
                other.status == IN_PROGRESS,
                and_(other.status == QUEUED, other.dispatched_at > now),
            ),
        )
        .scalar_subquery()
    )
    waiting = aliased(Run)
    oldest = (
        select(waiting.id)
        .where(
            waiting.user_id == Run.user_id,
            waiting.status == QUEUED,
            waiting.conversation_id != Run.conversation_id,
            or_(waiting.dispatched_at.is_(None), waiting.dispatched_at <= now),
            _heads_conversation(waiting),
        )
        .order_by(waiting.id)
        .limit(1)
        .scalar_subquery()
    )
    waiter = case((occupied == max_active_per_user - 1, oldest), else_=null())
    return Qualified(waiter).label("slot_waiter")


async def dispatch_waiting(
    session: AsyncSession, dispatcher: Dispatcher, user_id: str, conversation_id: str
) -> str | None:
    """Send the user's oldest queued run that heads another conversation (a slot just freed).

    Concurrent endings skip each other's pick (SKIP LOCKED on PostgreSQL), and a pick is held
    (`dispatched_at` a few seconds ahead) so the endings right after it (SQLite's writers come
    one after another) pass over it while its message travels: each freed slot sends a
    different run.
    """
    now = utcnow()
    queued = aliased(Run)
    pick = (
        select(queued.id)
        .where(
            queued.user_id == user_id,
            queued.status == QUEUED,
            queued.conversation_id != conversation_id,
            or_(queued.dispatched_at.is_(None), queued.dispatched_at <= now),
            _heads_conversation(queued),
        )
        .order_by(queued.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    result = await session.execute(
        update(Run)
        .where(Run.id == pick, Run.status == QUEUED)
        .values(dispatched_at=now + dt.timedelta(seconds=PICK_HOLD_SECONDS))
        .returning(Run.id)
        .execution_options(synchronize_session=False)
    )
    run_id = result.scalar_one_or_none()
    if run_id is not None:
        dispatcher.defer(EXECUTE_TASK, run_id)
    return run_id


async def unhold(session: AsyncSession, run_id: str) -> str | None:
    """After a claim the cap refused: if the run waits for a slot (queued, first in its
    conversation), drop any hold on it so the next ending can pick it; returns its user."""
    now = utcnow()
    result = await session.execute(
        update(Run)
        .where(
            Run.id == run_id,
            Run.status == QUEUED,
            Run.cancel_requested.is_(False),
            _heads_conversation(Run),
        )
        .values(
            dispatched_at=case(
                (Run.dispatched_at > now, literal(now, UTCDateTime())), else_=Run.dispatched_at
            )
        )
        .returning(Run.user_id)
        .execution_options(synchronize_session=False)
    )
    return result.scalar_one_or_none()


def _heads_conversation(run: Any) -> Any:
    """No earlier unfinished run in the run's conversation."""
    before = aliased(Run)
    return ~exists().where(
        before.conversation_id == run.conversation_id,
        before.status.in_(ACTIVE),
        before.id < run.id,
    )
