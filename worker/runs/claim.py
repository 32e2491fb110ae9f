"""A turn's start, in one transaction: claim the run, write its user message, and load what the
model will read (earlier turns; on a retry, the calls its dead attempt recorded)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.agents import service as agents
from shared.conversations.models import Message
from shared.db import utcnow
from shared.runs import states
from shared.runs import tool_calls as ledger
from shared.runs.models import Run
from shared.uow import unit_of_work
from worker import metrics
from worker.agent.loop import Turn, load_history
from worker.agent.model import Usage
from worker.agent.spec import AgentSpec
from worker.runs import fairness
from worker.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Started:
    """A claimed turn, the lease token it holds, and when its run first started (its
    deadline counts from then)."""

    turn: Turn
    token: str
    attempt: int
    started_at: dt.datetime


async def start(rt: Runtime, run_id: str, token: str) -> Started | None:
    """Claim the run and prepare its turn; None if it is not this worker's to run."""
    settings = rt.settings
    async with unit_of_work(rt.database) as uow:
        session = uow.session
        cap = settings.max_active_runs_per_user
        run = await states.claim(
            session, run_id, token, settings.run_lease_seconds, max_active_per_user=cap
        )
        if run is None:
            if await fairness.note_refusal(session, run_id, cap):
                log.info("run %s: waiting for one of its user's %d slots", run_id, cap)
            else:
                log.info("run %s: not claimable (done, running elsewhere, or its turn)", run_id)
            return None
        if run.attempts > settings.run_max_attempts:
            await states.finish(
                session,
                uow.dispatcher,
                run_id,
                token,
                states.FAILED,
                error={
                    "code": "retries_exhausted",
                    "message": f"the run was interrupted {run.attempts - 1} times",
                },
            )
            return None
        await _write_user_message(session, run)
        agent = None
        if run.agent_id is not None and run.agent_version is not None:
            # The one statement a custom agent adds to a turn's start (the built-in one: none).
            row = await agents.load_version(session, run.agent_id, run.agent_version)
            agent = AgentSpec.of(row) if row is not None else None
        turn = Turn(
            run.id,
            run.user_id,
            run.conversation_id,
            run.input["message"],
            Usage.of(run.usage),
            lease_token=token,
            history=None,
            agent_id=run.agent_id,
            agent=agent,
        )
        history = await load_history(session, turn)
        # Only a retry, or a turn resumed after a person's decision, finds earlier calls.
        resumed = run.attempts > 1 or run.resumed_at is not None
        earlier = list(await ledger.for_run(session, run.id)) if resumed else []
    turn = dataclasses.replace(turn, history=history, earlier_calls=earlier)
    # The time a person took to answer is not the turn's: its deadline counts from the answer.
    started_at = max(filter(None, (run.started_at, run.resumed_at)), default=utcnow())
    if run.attempts == 1 and run.resumed_at is None:  # a retry's wait is not the queue's
        metrics.QUEUE_WAIT.observe(max(0.0, (started_at - run.created_at).total_seconds()))
    return Started(turn, token, run.attempts, started_at)


async def _write_user_message(session: AsyncSession, run: Run) -> None:
    """The turn's user message, written when it starts (so turns never interleave), once."""
    if run.attempts > 1 or run.resumed_at is not None:
        exists = await session.execute(
            select(Message.id).where(Message.run_id == run.id, Message.role == "user")
        )
        if exists.first() is not None:
            return
    session.add(
        Message(
            conversation_id=run.conversation_id,
            run_id=run.id,
            role="user",
            content=run.input["message"],
        )
    )
