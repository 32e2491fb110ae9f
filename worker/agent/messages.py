"""The chat messages the model reads: tool calls, their results and history, built one way."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from mcp import Client
from mcp.types import CallToolResult

from shared.conversations.models import Message
from shared.runs.models import ToolCall
from shared.runs.status import ToolCallStatus
from worker.agent.model import ChatMessage, ToolSpec


def tool_call_message(content: str | None, calls: Iterable[tuple[str, str, Any]]) -> ChatMessage:
    """An assistant message asking for tools: (model call id, tool name, arguments) each."""
    return {
        "role": "assistant",
        "content": content or None,
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)},
            }
            for call_id, name, args in calls
        ],
    }


def assistant_tool_message(content: str, calls: Iterable[ToolCall]) -> ChatMessage:
    return tool_call_message(content, ((c.model_call_id, c.tool_name, c.arguments) for c in calls))


def tool_result_message(call: ToolCall) -> ChatMessage:
    if call.status != ToolCallStatus.COMPLETED:
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
            tool_call_message(None, ((c["id"], c["tool_name"], c["arguments"]) for c in calls))
        )
        for c in calls:
            result = c["result"]
            content = tool_error_text(result) if c.get("is_error") else json.dumps(result)
            out.append({"role": "tool", "tool_call_id": c["id"], "content": content})
    out.append({"role": "assistant", "content": message.content or ""})
    return out


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


def unwrap_tool_error(tool_name: str, text: str) -> str:
    """A ToolError's own message: the MCP server prefixes it with "Error executing tool X: "."""
    prefix = f"Error executing tool {tool_name}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


def parse_arguments(raw: str) -> dict[str, Any]:
    """The model's argument string as an object; anything else is kept, marked invalid."""
    try:
        value = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return {"__invalid_json__": raw[:2000]}
    return value if isinstance(value, dict) else {"__invalid_json__": raw[:2000]}


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
