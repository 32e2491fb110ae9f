"""What a turn's model and tool spans say: names and attributes after OpenTelemetry's GenAI
conventions, with counts and names only (never message text, tool arguments or results)."""

from __future__ import annotations

from shared.runs.models import ToolCall
from shared.telemetry import Attributes
from worker.agent.model import ChatModel, ModelReply


def model_call(model: ChatModel, step: int) -> tuple[str, Attributes]:
    """The span of one model call (its retries are its httpx child spans)."""
    return f"chat {model.name}", {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "parley.offline" if model.offline else "openai",
        "gen_ai.request.model": model.name,
        "parley.step": step,
    }


def model_reply(reply: ModelReply) -> Attributes:
    """What the call produced, in numbers."""
    return {
        "gen_ai.usage.input_tokens": reply.usage.prompt_tokens,
        "gen_ai.usage.output_tokens": reply.usage.completion_tokens,
        "parley.tool_calls": len(reply.tool_calls),
    }


def tool_call(call: ToolCall) -> tuple[str, Attributes]:
    """The span of one tool call."""
    return f"execute_tool {call.tool_name}", {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": call.tool_name,
        "gen_ai.tool.call.id": call.model_call_id,
        "parley.step": call.step,
    }
