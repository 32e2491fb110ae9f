"""What the fake LLM's tests share: the tool list they offer and two request helpers."""

from __future__ import annotations

import re
from typing import Any

from openai import OpenAI

TOOL_NAMES = ["add_task", "list_tasks", "complete_task", "delete_task", "update_task"]
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": name,
            "parameters": {"type": "object", "properties": {}},
        },
    }
    for name in TOOL_NAMES
]
CALL_ID = re.compile(r"^call_[0-9a-f]{12}$")


def user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def stream_chunks(client: OpenAI, messages: list[Any], **kwargs: Any) -> list[Any]:
    stream = client.chat.completions.create(model="fake", messages=messages, stream=True, **kwargs)
    with stream:
        return list(stream)
