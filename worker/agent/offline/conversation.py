"""Reading the conversation: this turn's request and the tool calls already made for it."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from worker.agent.model import ChatMessage, ToolSpec


@dataclass(frozen=True)
class Step:
    """One tool call made earlier in this turn; `result` is None when its result is missing."""

    name: str
    arguments: dict[str, Any]
    result: str | None


@dataclass(frozen=True)
class Turn:
    """The current request and what has been done for it so far."""

    number: int
    request: str
    steps: tuple[Step, ...]


def current_turn(messages: list[ChatMessage]) -> Turn:
    """Split the conversation at the last user message: earlier turns play no part."""
    user_positions = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    if not user_positions:
        return Turn(number=0, request="", steps=())
    last = user_positions[-1]
    return Turn(
        number=len(user_positions),
        request=_text_of(messages[last].get("content")),
        steps=steps_of(messages[last + 1 :]),
    )


def earlier_turns(messages: list[ChatMessage]) -> list[tuple[Step, ...]]:
    """The tool calls of each turn before the current one, oldest first."""
    user_positions = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    bounds = zip(user_positions, user_positions[1:], strict=False)
    return [steps_of(messages[start + 1 : end]) for start, end in bounds]


def _text_of(content: Any) -> str:
    """Message content as plain text, whether a string or a list of OpenAI content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content if isinstance(p, dict)]
        return " ".join(p for p in parts if isinstance(p, str))
    return ""


def steps_of(after: list[ChatMessage]) -> tuple[Step, ...]:
    """Pair every assistant tool call of this turn with its tool result, if one came back."""
    results = {
        m.get("tool_call_id"): _text_of(m.get("content")) for m in after if m.get("role") == "tool"
    }
    steps: list[Step] = []
    for message in after:
        if message.get("role") != "assistant":
            continue
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            steps.append(
                Step(
                    name=str(function.get("name", "")),
                    arguments=_json_object(function.get("arguments")),
                    result=results.get(call.get("id")),
                )
            )
    return tuple(steps)


def _json_object(raw: Any) -> dict[str, Any]:
    """Tool-call arguments as a dict; anything unparsable counts as no arguments."""
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def offered(tools: list[ToolSpec]) -> frozenset[str]:
    """Names of the tools this request offers: the model must never call anything else."""
    names = (t.get("function", {}).get("name") for t in tools if isinstance(t, dict))
    return frozenset(n for n in names if isinstance(n, str))


def call_id(turn: Turn, step: int) -> str:
    """A tool call id that a replay of the same turn reproduces exactly."""
    seed = f"{turn.number}\x1f{turn.request}\x1f{step}".encode()
    return "call_" + hashlib.sha256(seed).hexdigest()[:12]


def chunks(text: str) -> list[str]:
    """Word-sized pieces of `text` whose concatenation is exactly `text`."""
    return re.findall(r"\S+\s*|\s+", text)
