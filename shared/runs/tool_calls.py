"""The tool-call ledger: a call's row is completed in the same transaction as its effect."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import utcnow
from shared.runs.models import ToolCall
from shared.runs.status import ToolCallStatus


def parse_call_key(call_key: str) -> tuple[str, int, int] | None:
    """`run_id:step:index` → its parts, or None if malformed."""
    parts = call_key.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    return parts[0], int(parts[1]), int(parts[2])


async def lock_call(session: AsyncSession, call_key: str) -> ToolCall | None:
    """The ledger row for a call, locked for this transaction (None if unknown)."""
    parts = parse_call_key(call_key)
    if parts is None:
        return None
    run_id, step, index = parts
    query = (
        select(ToolCall)
        .where(ToolCall.run_id == run_id, ToolCall.step == step, ToolCall.call_index == index)
        .with_for_update()
    )
    return (await session.execute(query)).scalar_one_or_none()


def complete(call: ToolCall, result: Any, is_error: bool) -> None:
    """Record a call's outcome; done once, so a replayed call returns this instead of acting."""
    call.result = result
    call.is_error = is_error
    call.status = ToolCallStatus.COMPLETED
    call.completed_at = utcnow()


async def for_run(session: AsyncSession, run_id: str) -> Sequence[ToolCall]:
    """A run's calls in the order the model made them."""
    rows = await session.execute(
        select(ToolCall)
        .where(ToolCall.run_id == run_id)
        .order_by(ToolCall.step, ToolCall.call_index)
    )
    return rows.scalars().all()


def public(call: ToolCall) -> dict[str, Any]:
    """A call as clients see it (the ToolCall object of the contract)."""
    return {
        "id": call.id,
        "tool_name": call.tool_name,
        "arguments": call.arguments,
        "result": call.result,
        "is_error": call.is_error,
    }
