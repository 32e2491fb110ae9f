"""The worker's side of the per-user cap: tell a run waiting for one of its user's slots from
the other reasons a claim is refused, and leave it where the next ending finds it.

The claim refuses a run whose user already has MAX_ACTIVE_RUNS_PER_USER turns in progress, or
would have with their older waiting runs (shared.runs.slots.room, in the claim's UPDATE); the
refused run stays queued, in order. Each ending of one of the user's turns, in any process,
sends the oldest such run in its own transaction (shared.runs.slots, owned by the status
machine); the sweeper's re-dispatch of queued runs (RUN_REDISPATCH_SECONDS) stays the backstop.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shared.runs import slots


async def note_refusal(session: AsyncSession, run_id: str, cap: int) -> bool:
    """After a refused claim: whether the run waits for one of its user's slots (still queued
    and first in its conversation). A refused pick of an ending is no longer held, so the next
    ending picks it again (one statement, off the hot path)."""
    if cap <= 0:
        return False
    return await slots.unhold(session, run_id) is not None
