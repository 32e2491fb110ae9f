"""A turn in flight: drive the agent under its deadline, the keeper's cancel and lease checks,
and say how it ended (or that it is no longer this worker's to end)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from mcp import Client

from shared.db import utcnow
from shared.runs import states
from shared.runs.models import ToolCall
from shared.runs.status import RunStatus
from worker.agent.loop import ApprovalRequired, LeaseLost, Turn, TurnFailed, TurnState
from worker.agent.model import ModelError
from worker.runs.agents import agent_for
from worker.runs.claim import Started
from worker.runs.emitter import RunEmitter
from worker.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ending:
    """How a turn ended, to be recorded in one transaction."""

    status: RunStatus
    content: str
    error: dict[str, str] | None = None
    complete_message: bool = True
    # requires_action: the calls that wait for a person (the turn pauses, it does not end).
    waiting: tuple[ToolCall, ...] = ()


def failed(state: TurnState, code: str, message: str) -> Ending:
    return Ending(states.FAILED, state.content, {"code": code, "message": message}, False)


async def supervise(rt: Runtime, started: Started, state: TurnState) -> Ending | None:
    """Run the turn to its ending; None when another worker took the run over.

    Raises CancelledError when the worker shuts down (the run is left for another attempt),
    and the agent's infrastructure errors for the caller to retry.
    """
    turn = started.turn
    timeout = rt.settings.run_timeout_seconds
    deadline = started.started_at + dt.timedelta(seconds=timeout)
    remaining = max(0.0, (deadline - utcnow()).total_seconds())
    reason: dict[str, str] = {}
    emitter = RunEmitter(rt.database, turn.run_id, started.token)
    task = asyncio.create_task(_streamed(_drive(rt, turn, state, emitter), emitter))

    def stop(why: str) -> None:
        reason.setdefault("why", why)
        task.cancel()

    rt.keeper.hold(
        turn.run_id, started.token, lambda: stop("cancelled"), lambda: stop("lease_lost")
    )
    try:
        content = await asyncio.wait_for(asyncio.shield(task), remaining)
        return Ending(states.COMPLETED, content)
    except TimeoutError:
        stop("timeout")
        await asyncio.gather(task, return_exceptions=True)
        return failed(state, "timeout", f"the run exceeded {timeout:g} s")
    except asyncio.CancelledError:
        if reason.get("why") == "lease_lost":
            return None  # another worker owns the run now and will record its ending
        if reason.get("why") != "cancelled":
            task.cancel()  # the worker is shutting down: the caller hands the run back
            raise
        return Ending(
            states.CANCELLED, state.content, dict(states.CANCELLED_ERROR), complete_message=False
        )
    except ApprovalRequired as exc:
        return Ending(RunStatus.REQUIRES_ACTION, state.content, waiting=tuple(exc.calls))
    except LeaseLost:
        log.warning("run %s: lease lost to another worker; stopping here", turn.run_id)
        return None
    except (TurnFailed, ModelError) as exc:
        return failed(state, exc.code, exc.message)
    finally:
        rt.keeper.release(turn.run_id)


async def _streamed(drive: Coroutine[Any, Any, str], emitter: RunEmitter) -> str:
    """Drive the turn with its delta writer; its last deltas are written before it returns."""
    emitter.start()
    try:
        return await drive
    finally:
        await emitter.close()


async def _drive(rt: Runtime, turn: Turn, state: TurnState, emitter: RunEmitter) -> str:
    """One attempt at the turn, inside its own MCP session (entered and left in this task)."""
    agent = await agent_for(rt, turn, emitter.drain)
    # Raised inside the session block, TurnFailed/ModelError would leave it wrapped in an
    # ExceptionGroup by the client's anyio task group: carry it out and raise it bare.
    failure: Exception
    async with Client(rt.todo_server) as client:
        try:
            return await agent.run(turn, client, state, emitter.delta)
        except Exception as exc:
            failure = exc
    raise failure
