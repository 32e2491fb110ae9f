"""The agent loop: model → tools → model … until a text answer or the step limit.

Every tool call is written to the ledger before it runs, so a turn restarted after a crash
rebuilds the steps already taken and re-issues only calls with no recorded result; the todo
tools complete their ledger row (and write `tool_call.completed`) in the same transaction as
their effect (exactly once). A custom agent's external MCP tools run at least once: a crash
between such a call and its ledger write repeats it, with the same `_meta.call_key`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from mcp import Client
from mcp.types import RequestParamsMeta
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from shared import telemetry
from shared.conversations import service as conversations
from shared.db import Database, utcnow
from shared.events import store as events
from shared.events.schemas import TOOL_CALL_COMPLETED, TOOL_CALL_STARTED, tool_call_data
from shared.ids import new_id
from shared.runs import tool_calls as ledger
from shared.runs.models import Run, ToolCall
from shared.runs.status import RunStatus, ToolCallStatus
from worker import metrics
from worker.agent import spans
from worker.agent.messages import (
    assistant_tool_message,
    history_messages,
    parse_arguments,
    tool_result_message,
    tool_result_value,
    tool_specs,
    unwrap_tool_error,
)
from worker.agent.model import ChatMessage, ChatModel, DeltaCallback, ToolSpec, Usage
from worker.agent.spec import AgentSpec

if TYPE_CHECKING:
    from worker.mcp.toolset import Toolset

log = logging.getLogger(__name__)

HISTORY_LIMIT = 50
SYSTEM_PROMPT = (
    "You are Parley, a helpful assistant that manages the user's todo list with the tools "
    "provided. Use the tools to add, list, complete, update and delete tasks; never invent "
    "task ids (list the tasks first when you need one). Answer briefly and confirm what you did."
)


class TurnFailed(Exception):
    """The turn cannot finish; `code` becomes the run's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ToolInfrastructureError(Exception):
    """A tool crashed for a reason outside the model's control (e.g. the database is down)."""


class ApprovalRequired(Exception):
    """Calls of this step need a person's yes first: the turn pauses (requires_action)."""

    def __init__(self, calls: Sequence[ToolCall]) -> None:
        super().__init__(f"{len(calls)} tool call(s) wait for approval")
        self.calls = list(calls)


class LeaseLost(Exception):
    """Another worker took the run over (this one stalled past its lease): stop, record nothing."""


@dataclass
class TurnState:
    """What the turn has produced so far; kept when it is cut short."""

    content: str = ""
    usage: Usage = field(default_factory=Usage)
    steps: int = 0
    calls: list[ToolCall] = field(default_factory=list)  # every call of the run, in order


@dataclass(frozen=True)
class Turn:
    """The run a turn belongs to, and what the worker loaded for it when it claimed it."""

    run_id: str
    user_id: str
    conversation_id: str
    message: str
    prior_usage: Usage = Usage()  # tokens earlier attempts of this run already spent
    lease_token: str | None = None  # writes are guarded by it when set
    history: Sequence[ChatMessage] | None = None  # earlier turns; None: load them
    earlier_calls: Sequence[ToolCall] = ()  # calls a crashed attempt recorded
    agent_id: str | None = None  # None: the built-in todo agent
    agent: AgentSpec | None = None  # the version it was submitted with (loaded at the claim)


class AgentLoop:
    """Runs one turn against a model and an MCP client."""

    def __init__(
        self,
        database: Database,
        model: ChatModel,
        max_steps: int,
        before_event: Callable[[], Awaitable[None]] | None = None,
        *,
        tools: list[ToolSpec] | None = None,
        self_recording: frozenset[str] = frozenset(),
        system_prompt: str = SYSTEM_PROMPT,
        external: Toolset | None = None,
        approval: frozenset[str] = frozenset(),
    ) -> None:
        self.database = database
        self.model = model
        self.max_steps = max_steps
        # Writes streamed deltas first, so a tool call's event follows the text before it.
        self.before_event = before_event
        self.tools = tools  # None: list them from the client
        # Tools whose server completes the ledger row and writes the completed event itself.
        self.self_recording = self_recording
        self.system_prompt = system_prompt
        # A custom agent's external MCP tools; with it, only the tools offered may run.
        self.external = external
        self.offered: frozenset[str] = frozenset()  # tool names offered this turn (metrics)
        self.approval = approval  # tools whose calls wait for a person's yes

    async def run(
        self, turn: Turn, client: Client, state: TurnState, on_delta: DeltaCallback
    ) -> str:
        """Drive the turn to its final text; raises TurnFailed or ToolInfrastructureError."""
        tools = self.tools if self.tools is not None else await tool_specs(client)
        self.offered = frozenset(t["function"]["name"] for t in tools)
        messages, earlier_calls = await self._context(turn)
        step = 0
        for step_calls in _by_step(earlier_calls):
            # Calls a crashed attempt recorded but did not finish run now (the ledger makes
            # the ones whose effect already happened return their recorded result).
            state.calls.extend(step_calls)
            await self._execute_step(client, turn, step_calls)
            messages.append(assistant_tool_message("", step_calls))
            messages.extend(tool_result_message(call) for call in step_calls)
            step = step_calls[0].step + 1
        if earlier_calls:
            log.info("run %s: resumed after %d recorded step(s)", turn.run_id, step)
        while True:
            if step >= self.max_steps:
                raise TurnFailed(
                    "max_steps", f"the model did not finish within {self.max_steps} steps"
                )
            state.content = ""

            async def collect(text: str) -> None:
                state.content += text
                await on_delta(text)

            with telemetry.span(*spans.model_call(self.model, step)) as span:
                reply = await self.model.complete(messages, tools, collect)
                telemetry.annotate(span, spans.model_reply(reply))
            state.usage = state.usage + reply.usage
            state.steps = step + 1
            if not reply.tool_calls:
                return reply.content
            calls = await self._record_step(turn, step, reply.tool_calls, state.usage)
            state.calls.extend(calls)
            await self._execute_step(client, turn, calls)
            messages.append(assistant_tool_message(reply.content, calls))
            messages.extend(tool_result_message(call) for call in calls)
            step += 1

    async def _context(self, turn: Turn) -> tuple[list[ChatMessage], Sequence[ToolCall]]:
        """The model's input (system prompt, earlier turns, this request) and calls so far."""
        if turn.history is not None:
            history, earlier_calls = list(turn.history), turn.earlier_calls
        else:
            async with self.database.transaction() as session:
                history = await load_history(session, turn)
                earlier_calls = await ledger.for_run(session, turn.run_id)
        messages: list[ChatMessage] = [{"role": "system", "content": self.system_prompt}]
        messages.extend(history)
        messages.append({"role": "user", "content": turn.message})
        return messages, earlier_calls

    async def _record_step(
        self, turn: Turn, step: int, requested: Sequence[Any], usage: Usage
    ) -> list[ToolCall]:
        """Write the step's calls to the ledger (and their started events) before running any.

        The tokens spent so far are saved with them, so a crash does not lose them.
        """
        if self.before_event is not None:
            await self.before_event()
        now = utcnow()
        calls = [
            ToolCall(
                id=new_id("tc"),
                run_id=turn.run_id,
                user_id=turn.user_id,
                step=step,
                call_index=index,
                model_call_id=req.id,
                tool_name=req.name,
                arguments=parse_arguments(req.arguments),
                result=None,
                is_error=False,
                status=ToolCallStatus.PENDING,
                created_at=now,
            )
            for index, req in enumerate(requested)
        ]
        started = [(TOOL_CALL_STARTED, tool_call_data(ledger.public(c))) for c in calls]
        async with self.database.transaction() as session:
            last = await save_usage(session, turn, turn.prior_usage + usage, len(started))
            session.add_all(calls)
            await events.append(session, turn.run_id, started, last=last)
        return calls

    async def _execute_step(self, client: Client, turn: Turn, calls: Sequence[ToolCall]) -> None:
        """Run a step's calls; those that need a person's yes and have none wait: after the
        others ran, ApprovalRequired pauses the turn (a rejected call is already completed)."""
        waiting = [call for call in calls if self._needs_approval(call)]
        for call in calls:
            if call not in waiting:
                await self._execute(client, turn, call)
        if waiting:
            raise ApprovalRequired(waiting)

    def _needs_approval(self, call: ToolCall) -> bool:
        return (
            call.tool_name in self.approval
            and call.status != ToolCallStatus.COMPLETED
            and call.approval != "approved"
        )

    async def _execute(self, client: Client, turn: Turn, call: ToolCall) -> None:
        """`_run_call` in the call's span: which tool, and whether it worked (never arguments)."""
        recorded = call.status == ToolCallStatus.COMPLETED
        with telemetry.span(*spans.tool_call(call)) as span:
            await self._run_call(client, turn, call)
            outcome = "recorded" if recorded else "error" if call.is_error else "ok"
            telemetry.annotate(span, {"parley.tool.outcome": outcome})

    async def _run_call(self, client: Client, turn: Turn, call: ToolCall) -> None:
        """Run one call unless its result is recorded; record what the tool did not."""
        if call.status == ToolCallStatus.COMPLETED:
            return
        arguments = call.arguments
        tool = metrics.tool_label(call.tool_name, self.offered)
        meta = {"user_id": turn.user_id, "call_key": call.call_key}
        began = time.monotonic()
        if "__invalid_json__" in arguments:
            result: Any = "Error: the tool arguments were not valid JSON"
            is_error = True
            metrics.tool_call(tool, "invalid_arguments", None)
        elif self.external is not None and call.tool_name in self.external.names:
            result, is_error = await self.external.call(call.tool_name, arguments, meta)
            metrics.tool_call(tool, "error" if is_error else "ok", time.monotonic() - began)
        elif self.external is not None and not self._offers(call.tool_name):
            result, is_error = f"Error: this agent has no tool named {call.tool_name}", True
            metrics.tool_call(tool, "error", None)
        else:
            try:
                outcome = await client.call_tool(
                    call.tool_name, arguments, meta=cast(RequestParamsMeta, meta)
                )
            except Exception:
                metrics.tool_call(tool, "crashed", time.monotonic() - began)
                raise
            result, is_error = tool_result_value(outcome)
            crashed = is_error and result == f"Error executing tool {call.tool_name}"
            ended = "crashed" if crashed else "error" if is_error else "ok"
            metrics.tool_call(tool, ended, time.monotonic() - began)
            if crashed:
                # The SDK hides an unexpected exception's message: an outage, not a model error.
                raise ToolInfrastructureError(f"tool {call.tool_name} crashed")
            if call.tool_name in self.self_recording:  # as its server recorded it
                if is_error:
                    result = unwrap_tool_error(call.tool_name, str(result))
                call.result, call.is_error, call.status = result, is_error, ToolCallStatus.COMPLETED
                return
        async with self.database.transaction() as session:
            row = await ledger.lock_call(session, call.call_key)
            if row is None:
                raise ToolInfrastructureError("tool call ledger row vanished")
            if row.status != ToolCallStatus.COMPLETED:
                ledger.complete(row, result, is_error)
            call.result, call.is_error, call.status = row.result, row.is_error, row.status
            completed = tool_call_data(ledger.public(row))
            await events.append(session, turn.run_id, [(TOOL_CALL_COMPLETED, completed)])

    def _offers(self, name: str) -> bool:
        """Whether the model was offered `name` (a custom agent may lack the todo tools)."""
        return self.tools is None or any(t["function"]["name"] == name for t in self.tools)


async def load_history(session: AsyncSession, turn: Turn) -> list[ChatMessage]:
    """The conversation's earlier turns as model input (this turn's own messages left out)."""
    history = await conversations.history(session, turn.conversation_id, HISTORY_LIMIT)
    out: list[ChatMessage] = []
    for message in history:
        if message.run_id != turn.run_id:
            out.extend(history_messages(message))
    return out


async def save_usage(session: AsyncSession, turn: Turn, total: Usage, new_events: int) -> int:
    """Record the run's tokens so far and reserve ids for `new_events` events, in one UPDATE;
    returns the last reserved id. Raises LeaseLost if the turn's lease no longer holds."""
    statement = update(Run).where(Run.id == turn.run_id)
    if turn.lease_token is not None:
        statement = statement.where(
            Run.status == RunStatus.IN_PROGRESS, Run.lease_token == turn.lease_token
        )
    result = await session.execute(
        statement.values(usage=total.as_dict(), last_event_seq=Run.last_event_seq + new_events)
        .returning(Run.last_event_seq)
        .execution_options(synchronize_session=False)
    )
    last = result.scalar_one_or_none()
    if last is None:
        raise LeaseLost(turn.run_id)
    return int(last)


def _by_step(calls: Sequence[ToolCall]) -> list[list[ToolCall]]:
    steps: dict[int, list[ToolCall]] = {}
    for call in calls:
        steps.setdefault(call.step, []).append(call)
    return [steps[k] for k in sorted(steps)]
