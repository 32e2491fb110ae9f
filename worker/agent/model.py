"""The one interface every chat model speaks, so the agent loop never knows which it drives."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

# OpenAI chat-completions message dicts: {"role": "system"|"user"|"assistant"|"tool", ...}
ChatMessage = dict[str, Any]
# OpenAI function-tool specs: {"type": "function", "function": {name, description, parameters}}
ToolSpec = dict[str, Any]
DeltaCallback = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class RequestedToolCall:
    """One tool call the model asked for; `arguments` is the raw JSON text the model sent."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Usage:
    """Token counts of one model call (zero for the offline model)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )

    def as_dict(self) -> dict[str, int]:
        """The run's `usage` object."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }

    @classmethod
    def of(cls, saved: dict[str, int] | None) -> Usage:
        """A run's saved `usage` (None: nothing spent yet)."""
        saved = saved or {}
        return cls(saved.get("prompt_tokens", 0), saved.get("completion_tokens", 0))


@dataclass(frozen=True)
class ModelReply:
    """What one model call produced: text, tool calls, or both."""

    content: str
    tool_calls: list[RequestedToolCall] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)


class ModelError(Exception):
    """A model call failed; `code` is the run error code it maps to."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ChatModel(Protocol):
    """A chat model: given the conversation and the tools, produce the next reply."""

    name: str
    offline: bool

    async def complete(
        self, messages: list[ChatMessage], tools: list[ToolSpec], on_delta: DeltaCallback
    ) -> ModelReply:
        """Run one model call, streaming text deltas to `on_delta` as they arrive."""
        ...
