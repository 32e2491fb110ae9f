"""A person's decisions on the tool calls a requires_action run waits for: rejected calls get
their error result now (the model reads it when the turn resumes), approved ones are marked so
the resumed worker runs them, once, and the run goes back to the queue."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.dispatch import Dispatcher
from shared.errors import Conflict, Unprocessable
from shared.events import store as events
from shared.events.schemas import TOOL_CALL_COMPLETED, tool_call_data
from shared.runs import pauses, service
from shared.runs import tool_calls as ledger
from shared.runs.models import Run, ToolCall
from shared.runs.schemas import ToolApprovals
from shared.runs.status import ToolCallStatus

APPROVED = "approved"
REJECTED = "rejected"


def rejection_text(reason: str | None) -> str:
    """The tool result a rejected call gives the model."""
    said = reason.strip() if reason else ""
    return f"rejected by the user: {said or 'no reason given'}"


async def decide(
    session: AsyncSession, dispatcher: Dispatcher, user_id: str, run_id: str, body: ToolApprovals
) -> Run:
    """Record one decision per pending call and requeue the run (404 for another user's run,
    409 unless it waits for approval, 422 unless the decisions cover exactly its calls)."""
    run = await service.get(session, user_id, run_id)
    if run.status != pauses.REQUIRES_ACTION or not run.required_action:
        raise Conflict(f"run is {run.status}, not waiting for tool approvals")
    pending = [str(c["id"]) for c in run.required_action.get("tool_calls", [])]
    decided = [d.tool_call_id for d in body.decisions]
    if len(set(decided)) != len(decided) or set(decided) != set(pending):
        raise Unprocessable(
            "decisions must name each pending tool call exactly once", pending=pending
        )
    # The guarded status change first: it locks the run, so of two racing answers one wins and
    # the other gets 409 with nothing written.
    if await pauses.resume(session, dispatcher, run.id) is None:
        raise Conflict("run is no longer waiting for tool approvals")
    rows = (
        await session.execute(
            select(ToolCall).where(ToolCall.run_id == run.id, ToolCall.id.in_(pending))
        )
    ).scalars()
    calls = {row.id: row for row in rows}
    completed = []
    for decision in body.decisions:
        call = calls[decision.tool_call_id]
        if call.status == ToolCallStatus.COMPLETED:
            continue
        if decision.approve:
            call.approval = APPROVED
        else:
            call.approval = REJECTED
            ledger.complete(call, rejection_text(decision.reason), True)
            completed.append((TOOL_CALL_COMPLETED, tool_call_data(ledger.public(call))))
    await session.flush()
    if completed:
        await events.append(session, run.id, completed)
    await session.refresh(run)
    return run
