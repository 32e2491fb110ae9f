"""Execute one run: claim it, supervise the agent, and record how it ended, exactly once."""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from shared import telemetry
from shared.runs import states
from worker import metrics
from worker.agent.loop import ToolInfrastructureError, TurnState
from worker.runs import claim
from worker.runs.claim import Started
from worker.runs.record import record_ending, record_pause, release_for_retry
from worker.runs.supervise import Ending, failed, supervise
from worker.runtime import Runtime

log = logging.getLogger(__name__)

# Outages and an exhausted connection pool: retry the turn later, do not fail it.
TRANSIENT = (ToolInfrastructureError, OSError, OperationalError, DBAPIError, PoolTimeout)
# How a turn attempt ended when it recorded no status (the `status` label of its metrics).
LEASE_LOST = "lease_lost"  # another worker owns the run now
HANDED_BACK = "handed_back"  # released for another attempt (an outage, or shutdown)
CRASHED = "crashed"  # not even its failure could be recorded; the sweeper takes it over


async def execute_run(rt: Runtime, run_id: str) -> None:
    """Run a turn from claim to ending if this worker can claim it (else a no-op)."""
    started = await claim.start(rt, run_id, rt.keeper.new_token())
    if started is not None:
        await run_claimed(rt, started)


async def run_claimed(rt: Runtime, started: Started) -> None:
    """Supervise a claimed turn and record its ending, exactly once, in the turn's span (a child
    of the runs.execute task's, itself a child of the API request that submitted the turn)."""
    turn = started.turn
    attributes: telemetry.Attributes = {
        "parley.run_id": turn.run_id,
        "parley.conversation_id": turn.conversation_id,
        "parley.attempt": started.attempt,
    }
    began = time.monotonic()
    outcome = CRASHED
    with telemetry.span("parley.turn", attributes) as span:
        try:
            outcome = await _attempt(rt, started)
        except asyncio.CancelledError:
            outcome = HANDED_BACK
            raise
        finally:
            telemetry.annotate(span, {"parley.turn.outcome": outcome})
            metrics.turn_ended(outcome, time.monotonic() - began)


async def _attempt(rt: Runtime, started: Started) -> str:
    """One attempt at a claimed turn; says how it went (a run status, or why it has none)."""
    run_id, token = started.turn.run_id, started.token
    log.info("run %s: started (attempt %d)", run_id, started.attempt)
    state = TurnState()
    try:
        ending = await supervise(rt, started, state)
        if ending is None:
            return LEASE_LOST
        if ending.waiting:
            if await record_pause(rt, started.turn, token, ending):
                return str(ending.status)
            # A cancel came first (or the lease went, and then this records nothing).
            ending = Ending(states.CANCELLED, state.content, dict(states.CANCELLED_ERROR), False)
        recorded = await record_ending(rt, started.turn, token, state, ending)
        return str(ending.status) if recorded else LEASE_LOST
    except asyncio.CancelledError:
        # The worker is shutting down: hand the run back now rather than when its lease lapses.
        await release_for_retry(rt, run_id, token, "shutdown")
        raise
    except TRANSIENT as exc:
        await release_for_retry(rt, run_id, token, type(exc).__name__)
        return HANDED_BACK
    except Exception:
        log.exception("run %s: unexpected error", run_id)
        ending = failed(state, "internal_error", "the worker hit an unexpected error")
        recorded = await record_ending(rt, started.turn, token, state, ending)
        return str(ending.status) if recorded else LEASE_LOST
