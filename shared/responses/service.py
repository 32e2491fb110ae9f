"""What a Response needs beyond the runs service: chaining, the agent seam, and deletion."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.errors import Conflict, NotFound
from shared.runs import service as runs
from shared.runs import states
from shared.runs.models import Run


def agent_for(model: str) -> None:
    """The agent a `model` names; None is the default agent.

    Parley has one agent so far, so every name (`parley`, `gpt-4o`, anything) is the default
    agent. When agents exist, look `model` up among the user's agents here and pass the result
    to the run; unknown names keep meaning the default agent.
    """
    return None


async def conversation_of(session: AsyncSession, user_id: str, response_id: str) -> str:
    """The conversation a new turn continues: that of `previous_response_id`.

    Someone else's or an unknown id is a 404 naming the parameter, like OpenAI's.
    """
    try:
        run = await runs.get(session, user_id, response_id)
    except NotFound:
        raise NotFound(
            f"Previous response with id '{response_id}' not found.",
            param="previous_response_id",
        ) from None
    return run.conversation_id


async def previous_id(session: AsyncSession, conversation_id: str, run_id: str) -> str | None:
    """The turn before this one in its conversation (conversations are linear in Parley)."""
    earlier = await session.execute(
        select(Run.id)
        .where(Run.conversation_id == conversation_id, Run.id < run_id)
        .order_by(Run.id.desc())
        .limit(1)
    )
    return earlier.scalar_one_or_none()


async def get(session: AsyncSession, user_id: str, response_id: str) -> Run:
    """The user's run behind a response id; a 404 in the Responses API's words otherwise."""
    try:
        return await runs.get(session, user_id, response_id)
    except NotFound:
        raise NotFound(f"Response with id '{response_id}' not found.") from None


async def remove(session: AsyncSession, user_id: str, response_id: str) -> None:
    """Delete a finished turn: the run, its messages, tool calls, events and webhook records.

    An unfinished one is a conflict (cancel it first): its worker still writes to it. The row
    is locked first, as the worker would take it, so a delete never meets a turn mid-write.
    """
    locked = await session.execute(
        select(Run.status).where(Run.id == response_id, Run.user_id == user_id).with_for_update()
    )
    status = locked.scalar_one_or_none()
    if status is None:
        raise NotFound(f"Response with id '{response_id}' not found.")
    if status not in states.TERMINAL:
        raise Conflict(f"Response is still {status}: cancel it before deleting it.")
    # Messages, tool calls, the event log and webhook rows go with it (ON DELETE CASCADE).
    await session.execute(delete(Run).where(Run.id == response_id))
