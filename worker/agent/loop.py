"""The agent loop: model → tools → model … until a text answer or the step limit.

Every tool call is written to the ledger before it runs, so a turn restarted after a crash
rebuilds the steps already taken and re-issues only calls with no recorded result; the todo
tools complete their ledger row in the same transaction as their effect (exactly once).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from mcp import Client
from mcp.types import CallToolResult, RequestParamsMeta
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.conversations import service as conversations
from shared.conversations.models import Message
from shared.db import Database
from shared.events import store as events
from shared.events.schemas import TOOL_CALL_COMPLETED, TOOL_CALL_STARTED, tool_call_data
from shared.runs import tool_calls as ledger
from shared.runs.models import Run, ToolCall
from worker.agent.model import ChatMessage, ChatModel, DeltaCallback, ToolSpec, Usage

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


@dataclass
class TurnState:
    """What the turn has produced so far; kept when it is cut short."""

    content: str = ""
    usage: Usage = field(default_factory=Usage)
    steps: int = 0


@dataclass(frozen=True)
class Turn:
    """The run a turn belongs to."""

    run_id: str
    user_id: str
    conversation_id: str
    message: str
    prior_usage: Usage = Usage()  # tokens earlier attempts of this run already spent


class AgentLoop:
    """Runs one turn against a model and an MCP client."""

    def __init__(
        self,
        database: Database,
        model: ChatModel,
        max_steps: int,
        before_event: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.database = database
        self.model = model
        self.max_steps = max_steps
        # Writes streamed deltas first, so a tool call's event follows the text before it.
        self.before_event = before_event

    async def run(
        self, turn: Turn, client: Client, state: TurnState, on_delta: DeltaCallback
    ) -> str:
        """Drive the turn to its final text; raises TurnFailed or ToolInfrastructureError."""
        tools = await tool_specs(client)
        messages, earlier_calls = await self._context(turn)
        step = 0
        for step_calls in _by_step(earlier_calls):
            # Calls a crashed attempt recorded but did not finish run now (the ledger makes
            # the ones whose effect already happened return their recorded result).
            for call in step_calls:
                await self._execute(client, turn, call)
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

            reply = await self.model.complete(messages, tools, collect)
            state.usage = Usage(
                state.usage.prompt_tokens + reply.usage.prompt_tokens,
                state.usage.completion_tokens + reply.usage.completion_tokens,
            )
            state.steps = step + 1
            if not reply.tool_calls:
                return reply.content
            calls = await self._record_step(turn, step, reply.tool_calls, state.usage)
            messages.append(assistant_tool_message(reply.content, calls))
            for call in calls:
                await self._execute(client, turn, call)
                messages.append(tool_result_message(call))
            step += 1

    async def _context(self, turn: Turn) -> tuple[list[ChatMessage], Sequence[ToolCall]]:
        """The model's input (system prompt, earlier turns, this request) and calls so far."""
        async with self.database.transaction() as session:
            history = await conversations.history(session, turn.conversation_id, HISTORY_LIMIT)
            earlier_calls = await ledger.for_run(session, turn.run_id)
        messages: list[ChatMessage] = [{"role": "system", "content": SYSTEM_PROMPT}]
        for message in history:
            if message.run_id != turn.run_id:
                messages.extend(history_messages(message))
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
        async with self.database.transaction() as session:
            calls = [
                ToolCall(
                    run_id=turn.run_id,
                    user_id=turn.user_id,
                    step=step,
                    call_index=index,
                    model_call_id=req.id,
                    tool_name=req.name,
                    arguments=_parse_arguments(req.arguments),
                    status="pending",
                )
                for index, req in enumerate(requested)
            ]
            session.add_all(calls)
            await session.flush()
            await save_usage(session, turn.run_id, turn.prior_usage, usage)
            started = [(TOOL_CALL_STARTED, tool_call_data(ledger.public(c))) for c in calls]
            await events.append(session, turn.run_id, started)
        return calls

    async def _execute(self, client: Client, turn: Turn, call: ToolCall) -> None:
        """Run one call unless its result is recorded; record what the tool did not."""
        if call.status == "completed":
            return
        arguments = call.arguments
        if "__invalid_json__" in arguments:
            result: Any = "Error: the tool arguments were not valid JSON"
            is_error = True
        else:
            outcome = await client.call_tool(
                call.tool_name,
                arguments,
                meta=cast(RequestParamsMeta, {"user_id": turn.user_id, "call_key": call.call_key}),
            )
            result, is_error = tool_result_value(outcome)
            if is_error and result == f"Error executing tool {call.tool_name}":
                # The SDK hides an unexpected exception's message: an outage, not a model error.
                raise ToolInfrastructureError(f"tool {call.tool_name} crashed")
        async with self.database.transaction() as session:
            row = await ledger.lock_call(session, call.call_key)
            if row is None:
                raise ToolInfrastructureError("tool call ledger row vanished")
            if row.status != "completed":
                ledger.complete(row, result, is_error)
            call.result, call.is_error, call.status = row.result, row.is_error, row.status
            completed = tool_call_data(ledger.public(row))
            await events.append(session, turn.run_id, [(TOOL_CALL_COMPLETED, completed)])


async def tool_specs(client: Client) -> list[ToolSpec]:
    """The MCP tools as OpenAI function specs."""
    listing = await client.list_tools()
    return [
        {
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool.description or "",
                "parameters": tool.input_schema,
            },
        }
        for tool in listing.tools
    ]


def tool_result_value(outcome: CallToolResult) -> tuple[Any, bool]:
    """An MCP call result as a JSON value (structured when the tool gave one) and an error flag."""
    text = "\n".join(getattr(part, "text", "") for part in outcome.content)
    if outcome.is_error:
        return text, True
    structured = outcome.structured_content
    if isinstance(structured, dict):
        # MCP wraps non-object results (e.g. lists) as {"result": value}.
        return (structured["result"] if set(structured) == {"result"} else structured), False
    try:
        return json.loads(text), False
    except ValueError:
        return text, False


def assistant_tool_message(content: str, calls: Sequence[ToolCall]) -> ChatMessage:
    return {
        "role": "assistant",
        "content": content or None,
        "tool_calls": [
            {
                "id": call.model_call_id,
                "type": "function",
                "function": {
                    "name": call.tool_name,
                    "arguments": json.dumps(call.arguments),
                },
            }
            for call in calls
        ],
    }


def tool_result_message(call: ToolCall) -> ChatMessage:
    if call.status != "completed":
        content = "Error: the tool did not run"
    elif call.is_error:
        content = tool_error_text(call.result)
    else:
        content = json.dumps(call.result)
    return {"role": "tool", "tool_call_id": call.model_call_id, "content": content}


def tool_error_text(result: Any) -> str:
    """A failed call's result as the model reads it: marked as an error, whatever the tool said."""
    text = str(result)
    return text if text.lower().startswith("error") else f"Error: {text}"


def history_messages(message: Message) -> list[ChatMessage]:
    """A stored message as model input; an assistant's tool calls are replayed before its text."""
    if message.role == "user":
        return [{"role": "user", "content": message.content}]
    out: list[ChatMessage] = []
    calls = message.tool_calls or []
    if calls:
        out.append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": c["id"],
                        "type": "function",
                        "function": {
                            "name": c["tool_name"],
                            "arguments": json.dumps(c["arguments"]),
                        },
                    }
                    for c in calls
                ],
            }
        )
        for c in calls:
            result = c["result"]
            content = tool_error_text(result) if c.get("is_error") else json.dumps(result)
            out.append({"role": "tool", "tool_call_id": c["id"], "content": content})
    out.append({"role": "assistant", "content": message.content or ""})
    return out


async def save_usage(session: AsyncSession, run_id: str, prior: Usage, spent: Usage) -> None:
    """Record the run's token usage so far (earlier attempts plus this one)."""
    prompt = prior.prompt_tokens + spent.prompt_tokens
    completion = prior.completion_tokens + spent.completion_tokens
    await session.execute(
        update(Run)
        .where(Run.id == run_id)
        .values(
            usage={
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
        )
        .execution_options(synchronize_session=False)
    )


def _parse_arguments(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return {"__invalid_json__": raw[:2000]}
    return value if isinstance(value, dict) else {"__invalid_json__": raw[:2000]}


def _by_step(calls: Sequence[ToolCall]) -> list[list[ToolCall]]:
    steps: dict[int, list[ToolCall]] = {}
    for call in calls:
        steps.setdefault(call.step, []).append(call)
    return [steps[k] for k in sorted(steps)]
