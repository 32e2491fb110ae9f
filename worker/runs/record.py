"""A turn's ending, recorded once: the status machine writes the status, the assistant message,
the events and the webhook in one transaction; this worker sends the webhook right after it."""

from __future__ import annotations

import functools
import logging
from typing import Any

from shared.conversations.models import Message
from shared.db import utcnow
from shared.ids import new_id
from shared.runs import pauses, states
from shared.runs import tool_calls as ledger
from shared.uow import unit_of_work
from shared.webhooks.outbox import DELIVER_TASK
from worker.agent.loop import Turn, TurnState
from worker.runs.supervise import Ending
from worker.runtime import Runtime
from worker.webhooks.deliver import start_delivery

log = logging.getLogger(__name__)

RETRY_DELAY_SECONDS = 2.0


async def record_ending(
    rt: Runtime, turn: Turn, token: str, state: TurnState, ending: Ending
) -> bool:
    """Terminal status, output and the assistant message commit together, or not at all;
    False if the lease was lost first (nothing recorded)."""
    # Sent from this process after the commit (no broker trip); the outbox row stays the
    # durable record a sweeper retries from.
    local = {DELIVER_TASK: functools.partial(start_delivery, rt)}
    async with unit_of_work(rt.database, local) as uow:
        if ending.status == states.COMPLETED:
            calls = [ledger.public(c) for c in state.calls]
        else:  # cut short: a call may have finished after this attempt stopped waiting for it
            calls = [ledger.public(c) for c in await ledger.for_run(uow.session, turn.run_id)]
        message = None
        if ending.content or calls or ending.status == states.COMPLETED:
            message = Message(
                id=new_id("msg"),
                conversation_id=turn.conversation_id,
                run_id=turn.run_id,
                role="assistant",
                content=ending.content,
                tool_calls=calls,
                status="completed" if ending.complete_message else "incomplete",
                created_at=utcnow(),
            )
        output: dict[str, Any] | None = {"response": ending.content, "tool_calls": calls}
        if ending.status != states.COMPLETED and not ending.content and not calls:
            output = None
        run = await states.finish(
            uow.session,
            uow.dispatcher,
            turn.run_id,
            token,
            ending.status,
            message=message,
            output=output,
            error=ending.error,
            usage=None if rt.model.offline else (turn.prior_usage + state.usage).as_dict(),
        )
    if run is None:
        log.warning("run %s: lease lost before it ended; leaving it to its new owner", turn.run_id)
        return False
    log.info("run %s: %s", turn.run_id, ending.status)
    return True


async def record_pause(rt: Runtime, turn: Turn, token: str, ending: Ending) -> bool:
    """The turn waits for a person's decision on `ending.waiting`: the run moves to
    requires_action and this worker lets it go; False if the lease was lost or a cancel came
    first (then the keeper's cancel, or the new owner, ends it)."""
    calls = [
        {"id": c.id, "tool_name": c.tool_name, "arguments": c.arguments} for c in ending.waiting
    ]
    local = {DELIVER_TASK: functools.partial(start_delivery, rt)}
    async with unit_of_work(rt.database, local) as uow:
        run = await pauses.await_approval(
            uow.session,
            uow.dispatcher,
            turn.run_id,
            token,
            calls,
            rt.settings.approval_timeout_seconds,
        )
    if run is None:
        log.warning("run %s: could not pause for approval (lease lost or cancelled)", turn.run_id)
        return False
    log.info("run %s: waiting for approval of %d tool call(s)", turn.run_id, len(calls))
    return True


async def release_for_retry(rt: Runtime, run_id: str, token: str, why: str) -> None:
    """A transient failure or a shutdown: let the lease lapse now and try again shortly."""
    log.warning("run %s: handed back (%s); will retry", run_id, why)
    try:
        async with unit_of_work(rt.database) as uow:
            await states.release_for_retry(
                uow.session, uow.dispatcher, run_id, token, RETRY_DELAY_SECONDS
            )
    except Exception:
        log.warning("run %s: could not release the lease; the sweeper will pick it up", run_id)
