"""Execute one run: claim it, supervise the agent, and record how it ended, exactly once."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from worker.agent.loop import ToolInfrastructureError, TurnState
from worker.runs import claim
from worker.runs.claim import Started
from worker.runs.record import record_ending, release_for_retry
from worker.runs.supervise import failed, supervise
from worker.runtime import Runtime

log = logging.getLogger(__name__)

# Outages and an exhausted connection pool: retry the turn later, do not fail it.
TRANSIENT = (ToolInfrastructureError, OSError, OperationalError, DBAPIError, PoolTimeout)


async def execute_run(rt: Runtime, run_id: str) -> None:
    """Run a turn from claim to ending if this worker can claim it (else a no-op)."""
    started = await claim.start(rt, run_id, rt.keeper.new_token())
    if started is not None:
        await run_claimed(rt, started)


async def run_claimed(rt: Runtime, started: Started) -> None:
    """Supervise a claimed turn and record its ending, exactly once."""
    run_id, token = started.turn.run_id, started.token
    log.info("run %s: started (attempt %d)", run_id, started.attempt)
    state = TurnState()
    try:
        ending = await supervise(rt, started, state)
        if ending is not None:
            await record_ending(rt, started.turn, token, state, ending)
    except asyncio.CancelledError:
        # The worker is shutting down: hand the run back now rather than when its lease lapses.
        await release_for_retry(rt, run_id, token, "shutdown")
        raise
    except TRANSIENT as exc:
        await release_for_retry(rt, run_id, token, type(exc).__name__)
    except Exception:
        log.exception("run %s: unexpected error", run_id)
        ending = failed(state, "internal_error", "the worker hit an unexpected error")
        await record_ending(rt, started.turn, token, state, ending)
