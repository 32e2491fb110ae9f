"""A run as an OpenAI Response object, with the field names of the `openai` SDK's models."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from shared.conversations.schemas import ToolCallOut
from shared.runs.schemas import RunOut, RunUsage

# Every `model` names the default agent until agents exist (see shared.responses.service.agent_for).
DEFAULT_MODEL = "parley"
MCP_SERVER_LABEL = "parley"


@dataclass(frozen=True)
class ResponseContext:
    """What a Response shows that the run row does not hold itself."""

    previous_response_id: str | None = None
    background: bool | None = None


def response_object(run: RunOut, context: ResponseContext) -> dict[str, Any]:
    """The Response for a run (`GET /v1/responses/{id}`); its id is the run id."""
    finished = _timestamp(run.finished_at) if run.status == "completed" else None
    return {
        "id": run.id,
        "object": "response",
        "created_at": _timestamp(run.created_at),
        "completed_at": finished,
        "status": run.status,
        "background": context.background,
        "model": DEFAULT_MODEL,
        "instructions": None,
        "previous_response_id": context.previous_response_id,
        "conversation": {"id": run.conversation_id},
        "output": output_items(run),
        "error": error(run),
        "incomplete_details": None,
        "usage": usage(run.usage),
        "metadata": run.metadata,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "temperature": None,
        "top_p": None,
        "store": True,
        "text": {"format": {"type": "text"}},
    }


def output_items(run: RunOut) -> list[dict[str, Any]]:
    """The tool calls the agent made (as `mcp_call` items), then its reply (a `message`)."""
    if run.output is None:
        return []
    items = [mcp_call(call) for call in run.output.tool_calls]
    if run.output.response or run.status == "completed":
        status = "completed" if run.status == "completed" else "incomplete"
        items.append(message_item(message_id(run.id, len(items)), run.output.response, status))
    return items


def message_id(run_id: str, calls_before: int) -> str:
    """A message item's id, from the number of tool calls before it.

    A stream and a later GET so give the final reply the same id, even when the stream showed
    text the model wrote before a tool call as a message of its own (it has fewer calls before).
    """
    return f"msg_{run_id.removeprefix('run_')}_{calls_before}"


def message_item(item_id: str, text: str | None, status: str) -> dict[str, Any]:
    """An assistant `message` item; `text=None` while it has no content part yet."""
    content = [] if text is None else [text_part(text)]
    return {
        "id": item_id,
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": content,
    }


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def mcp_call(call: ToolCallOut, *, done: bool = True) -> dict[str, Any]:
    """A Parley tool call as an `mcp_call` item of the `parley` server (ids are the call's)."""
    item: dict[str, Any] = {
        "id": call.id,
        "type": "mcp_call",
        "server_label": MCP_SERVER_LABEL,
        "name": call.tool_name,
        "arguments": json.dumps(call.arguments, ensure_ascii=False),
        "output": None,
        "error": None,
        "status": "in_progress",
    }
    if done:
        output = call.result if isinstance(call.result, str) else json.dumps(call.result)
        item["output"] = output
        item["status"] = "failed" if call.is_error else "completed"
        if call.is_error:
            item["error"] = {"type": "mcp_tool_execution_error", "content": call.result}
    return item


def error(run: RunOut) -> dict[str, Any] | None:
    """OpenAI's error code where one fits; Parley's own code (`max_steps` …) as its `type`."""
    if run.error is None:
        return None
    code = "rate_limit_exceeded" if run.error.code == "llm_rate_limited" else "server_error"
    return {"code": code, "message": run.error.message, "type": run.error.code, "param": None}


def usage(run_usage: RunUsage | None) -> dict[str, Any] | None:
    if run_usage is None:
        return None
    return {
        "input_tokens": run_usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": run_usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": run_usage.total_tokens,
    }


def _timestamp(moment: dt.datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()
