"""Execute one run: claim it, drive the agent loop, and record how it ended, exactly once."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from mcp import Client
from sqlalchemy import select

from shared.conversations.models import Message
from shared.db import utcnow
from shared.dispatch import Dispatcher
from shared.events import store as events
from shared.events.schemas import MESSAGE_COMPLETED, RUN_IN_PROGRESS, message_data, run_data
from shared.runs import service as runs_service
from shared.runs import states
from shared.runs import tool_calls as ledger
from shared.runs.models import Run
from worker.agent.loop import AgentLoop, ToolInfrastructureError, Turn, TurnFailed, TurnState
from worker.agent.model import ModelError, Usage
from worker.runs.emitter import RunEmitter
from worker.runtime import Runtime

log = logging.getLogger(__name__)

RETRY_DELAY_SECONDS = 2.0


@dataclass
class Ending:
    """How a turn ended, to be recorded in one transaction."""

    status: str
    content: str
    error: dict[str, str] | None = None
    complete_message: bool = True


async def execute_run(rt: Runtime, run_id: str) -> None:
    """Run a turn if this worker can claim it; a duplicate delivery is a no-op."""
    token = uuid.uuid4().hex
    settings = rt.settings
    dispatcher = Dispatcher()
    async with rt.database.transaction() as session:
        run = await states.claim(session, run_id, token, settings.run_lease_seconds)
        if run is None:
            log.info("run %s: not claimable (done, running elsewhere, or waiting its turn)", run_id)
            return
        if run.attempts > settings.run_max_attempts:
            ok = await states.finish(
                session,
                run_id,
                token,
                states.FAILED,
                error={
                    "code": "retries_exhausted",
                    "message": f"the run was interrupted {run.attempts - 1} times",
                },
            )
            if ok:
                await runs_service.run_ended(session, dispatcher, run_id)
            turn = None
        else:
            await _ensure_user_message(session, run)
            turn = Turn(
                run.id,
                run.user_id,
                run.conversation_id,
                run.input["message"],
                Usage(
                    (run.usage or {}).get("prompt_tokens", 0),
                    (run.usage or {}).get("completion_tokens", 0),
                ),
            )
            started_at = run.started_at or utcnow()
            await events.append(session, run.id, [(RUN_IN_PROGRESS, run_data(run))])
    if turn is None:  # gave up on a run that kept losing its worker
        await dispatcher.flush()
        return
    log.info("run %s: started (attempt %d)", run_id, run.attempts)

    deadline = started_at + dt.timedelta(seconds=settings.run_timeout_seconds)
    remaining = max(0.0, (deadline - utcnow()).total_seconds())
    state = TurnState()
    reason: dict[str, str] = {}
    emitter = RunEmitter(rt.database, run_id, token)
    task = asyncio.create_task(_streamed(_drive(rt, turn, state, emitter), emitter))

    def cancel() -> None:
        reason.setdefault("why", "cancelled")
        task.cancel()

    def lost() -> None:
        reason.setdefault("why", "lease_lost")
        task.cancel()

    rt.keeper.hold(run_id, token, cancel, lost)
    try:
        try:
            content = await asyncio.wait_for(asyncio.shield(task), remaining)
            ending = Ending(states.COMPLETED, content)
        except TimeoutError:
            reason.setdefault("why", "timeout")
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            ending = _failed(
                state, "timeout", f"the run exceeded {settings.run_timeout_seconds:g} s"
            )
        except asyncio.CancelledError:
            if reason.get("why") == "lease_lost":
                return  # another worker owns the run now and will record its ending
            if reason.get("why") != "cancelled":
                raise  # the worker is shutting down: leave the run for another attempt
            ending = Ending(
                states.CANCELLED,
                state.content,
                {"code": "cancelled", "message": "Run cancelled."},
                complete_message=False,
            )
        except TurnFailed as exc:
            ending = _failed(state, exc.code, exc.message)
        except ModelError as exc:
            ending = _failed(state, exc.code, exc.message)
        await _record_ending(rt, run_id, token, turn, state, ending)
    except (ToolInfrastructureError, OSError) as exc:
        await _release_for_retry(rt, run_id, token, exc)
    except Exception as exc:
        if _is_database_error(exc):
            await _release_for_retry(rt, run_id, token, exc)
        else:
            log.exception("run %s: unexpected error", run_id)
            await _record_ending(
                rt,
                run_id,
                token,
                turn,
                state,
                _failed(state, "internal_error", "the worker hit an unexpected error"),
            )
    finally:
        rt.keeper.release(run_id)


async def _streamed(drive: Coroutine[Any, Any, str], emitter: RunEmitter) -> str:
    """Drive the turn with its delta writer; its last deltas are written before it returns."""
    emitter.start()
    try:
        return await drive
    finally:
        await emitter.close()


async def _drive(rt: Runtime, turn: Turn, state: TurnState, emitter: RunEmitter) -> str:
    """One attempt at the turn, inside its own MCP session (entered and left in this task)."""
    agent = AgentLoop(rt.database, rt.model, rt.settings.agent_max_steps, emitter.drain)
    on_delta = emitter.delta

    # Raised inside the session block, TurnFailed/ModelError would leave it wrapped in an
    # ExceptionGroup by the client's anyio task group: carry it out and raise it bare.
    failure: Exception
    async with Client(rt.todo_server) as client:
        try:
            return await agent.run(turn, client, state, on_delta)
        except Exception as exc:
            failure = exc
    raise failure


def _failed(state: TurnState, code: str, message: str) -> Ending:
    return Ending(states.FAILED, state.content, {"code": code, "message": message}, False)


async def _ensure_user_message(session: Any, run: Run) -> None:
    """The turn's user message, written when it starts (so turns never interleave), once."""
    exists = await session.execute(
        select(Message.id).where(Message.run_id == run.id, Message.role == "user")
    )
    if exists.first() is None:
        session.add(
            Message(
                conversation_id=run.conversation_id,
                run_id=run.id,
                role="user",
                content=run.input["message"],
            )
        )


async def _record_ending(
    rt: Runtime,
    run_id: str,
    token: str,
    turn: Turn,
    state: TurnState,
    ending: Ending,
) -> None:
    """Terminal status, output and the assistant message commit together, or not at all."""
    dispatcher = Dispatcher()
    async with rt.database.transaction() as session:
        calls = [ledger.public(c) for c in await ledger.for_run(session, run_id)]
        usage = None if rt.model.offline else _usage(turn.prior_usage, state)
        output = {"response": ending.content, "tool_calls": calls}
        if ending.status != states.COMPLETED and not ending.content and not calls:
            output_value: dict[str, Any] | None = None
        else:
            output_value = output
        ok = await states.finish(
            session,
            run_id,
            token,
            ending.status,
            output=output_value,
            error=ending.error,
            usage=usage,
        )
        if not ok:
            log.warning("run %s: lease lost before it ended; leaving it to its new owner", run_id)
            return
        if ending.content or calls or ending.status == states.COMPLETED:
            existing = await session.execute(
                select(Message.id).where(Message.run_id == run_id, Message.role == "assistant")
            )
            if existing.first() is None:
                message = Message(
                    conversation_id=turn.conversation_id,
                    run_id=run_id,
                    role="assistant",
                    content=ending.content,
                    tool_calls=calls,
                    status="completed" if ending.complete_message else "incomplete",
                )
                session.add(message)
                await session.flush()
                await events.append(session, run_id, [(MESSAGE_COMPLETED, message_data(message))])
        await runs_service.run_ended(session, dispatcher, run_id)
    await dispatcher.flush()
    log.info("run %s: %s", run_id, ending.status)


async def _release_for_retry(rt: Runtime, run_id: str, token: str, exc: BaseException) -> None:
    """A transient failure: let the lease lapse now and try again shortly."""
    log.warning("run %s: transient failure (%s); will retry", run_id, type(exc).__name__)
    try:
        async with rt.database.transaction() as session:
            await states.expire_lease(session, run_id, token)
    except Exception:
        log.warning("run %s: could not release the lease; the sweeper will pick it up", run_id)
        return
    from shared.celery_app import celery_app

    await asyncio.to_thread(
        celery_app.send_task, "runs.execute", args=[run_id], countdown=RETRY_DELAY_SECONDS
    )


def _usage(prior: Usage, state: TurnState) -> dict[str, int]:
    """All tokens of the run: earlier attempts (saved with their steps) plus this one."""
    prompt = prior.prompt_tokens + state.usage.prompt_tokens
    completion = prior.completion_tokens + state.usage.completion_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _is_database_error(exc: BaseException) -> bool:
    """Outages and an exhausted connection pool: retry the turn later, do not fail it."""
    from sqlalchemy.exc import DBAPIError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    return isinstance(exc, (OperationalError, DBAPIError, PoolTimeout))


__all__ = ["execute_run", "Run"]
