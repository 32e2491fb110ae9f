"""The script: what the fake model answers to a conversation, decided from its messages alone."""

from __future__ import annotations

import json
import math
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from fakellm.directives import BAD_ARGUMENTS, Directives, JSONDict

CANNOT = "I cannot do that."

_DONE_WORDS: dict[str, str] = {
    "add_task": "created",
    "complete_task": "completed",
    "delete_task": "deleted",
    "update_task": "updated",
}


def content_text(content: Any) -> str:
    """The text of a message `content`: a string, a list of content parts, or null."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "".join(parts)
    return str(content)


def offered_tools(body: JSONDict) -> set[str]:
    names: set[str] = set()
    tools = body.get("tools")
    if not isinstance(tools, list):
        return names
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        function = tool.get("function")
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            names.add(function["name"])
        elif isinstance(tool.get("name"), str):
            names.add(tool["name"])
    return names


def split_turn(messages: list[JSONDict]) -> tuple[str, list[JSONDict]]:
    """(`last_user` text, messages after it)."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "user":
            return content_text(messages[i].get("content")), messages[i + 1 :]
    return "", list(messages)


def _tool_name_for(result: JSONDict, messages: list[JSONDict]) -> str:
    call_id = result.get("tool_call_id")
    for message in messages:
        for call in message.get("tool_calls") or []:
            if isinstance(call, dict) and call.get("id") == call_id:
                function = call.get("function")
                if isinstance(function, dict) and isinstance(function.get("name"), str):
                    return str(function["name"])
    name = result.get("name")
    return name if isinstance(name, str) and name else "tool"


def _shorten(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _item_title(item: Any) -> str:
    if isinstance(item, dict) and "title" in item:
        return str(item["title"])
    return _shorten(json.dumps(item) if not isinstance(item, str) else item, 40)


def summarize_tool_result(content: str, tool_name: str) -> str:
    """The deterministic text answer after a tool result."""
    stripped = content.strip()
    if stripped.lower().startswith("error"):
        return f"Sorry, that failed: {stripped}"
    try:
        data: Any = json.loads(stripped)
    except ValueError:
        return f"Done. {tool_name}: {_shorten(stripped)}." if stripped else f"Done. {tool_name}."
    if isinstance(data, dict) and isinstance(data.get("tasks"), list):
        data = data["tasks"]
    if isinstance(data, list):
        if not data:
            return "Done. You have 0 task(s)."
        titles = ", ".join(_item_title(item) for item in data)
        return f"Done. You have {len(data)} task(s): {titles}."
    if isinstance(data, dict):
        if data.get("error"):
            return f"Sorry, that failed: {_shorten(str(data['error']))}"
        if "title" in data:
            status = data.get("status")
            word = _DONE_WORDS.get(tool_name) or (status if isinstance(status, str) else "ok")
            return f'Done. {tool_name}: "{data["title"]}" ({word}).'
    compact = json.dumps(data, separators=(",", ":"))
    return f"Done. {tool_name}: {_shorten(compact)}."


_TASK_N = r"task\s*#?\s*(\d+)"
_RENAME_RE = re.compile(rf"\brename\s+{_TASK_N}\s+to\s+(.+)", re.I | re.S)
_COMPLETE_RE = re.compile(rf"\b(?:complete|mark)\s+{_TASK_N}", re.I)
_DELETE_RE = re.compile(rf"\bdelete\s+{_TASK_N}", re.I)
_ADD_RE = re.compile(r"\badd\s+(?:a\s+)?task\s*(?:to\b)?[\s:]*(.+)", re.I | re.S)
_REMIND_RE = re.compile(r"\bremind\s+me\s+to\s+(.+)", re.I | re.S)


def _clean_title(raw: str) -> str:
    title = raw.strip().rstrip(".!?,;: ").strip()
    if len(title) >= 2 and title[0] == title[-1] and title[0] in "\"'":
        title = title[1:-1].strip()
    return title


def intent_for(text: str) -> tuple[str, JSONDict] | None:
    """The tool call a user message maps to, or None for a plain text reply."""
    if match := _RENAME_RE.search(text):
        title = _clean_title(match.group(2))
        if title:
            return "update_task", {"task_id": int(match.group(1)), "title": title}
    if match := _COMPLETE_RE.search(text):
        return "complete_task", {"task_id": int(match.group(1))}
    if match := _DELETE_RE.search(text):
        return "delete_task", {"task_id": int(match.group(1))}
    for pattern in (_ADD_RE, _REMIND_RE):
        if match := pattern.search(text):
            title = _clean_title(match.group(1))
            if title:
                return "add_task", {"title": title}
    lowered = text.lower()
    if re.search(r"\b(list|show)", lowered) and "task" in lowered:
        status = "all"
        if re.search(r"\bpending\b", lowered):
            status = "pending"
        elif re.search(r"\b(completed|done)\b", lowered):
            status = "completed"
        return "list_tasks", {"status": status}
    return None


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str


@dataclass
class Reply:
    """What the fake model answers: text or tool calls, and how to chunk the text."""

    text: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    chunks: list[str] | None = None
    chunk_delay: float = 0.0

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.tool_calls else "stop"

    def output_chars(self) -> int:
        if self.tool_calls:
            return sum(len(c.name) + len(c.arguments) for c in self.tool_calls)
        return len(self.text or "")


def _call(name: str, args: JSONDict) -> ToolCall:
    return ToolCall(
        id=f"call_{secrets.token_hex(6)}",
        name=name,
        arguments=json.dumps(args, ensure_ascii=False),
    )


def text_chunks(text: str, minimum: int = 3) -> list[str]:
    """Split text on spaces (each space stays with the following word) into >= `minimum` pieces."""
    words = text.split(" ")
    pieces = [words[0]] + [" " + word for word in words[1:]]
    if len(pieces) >= minimum:
        return pieces
    size = max(1, math.ceil(len(text) / minimum))
    pieces = [text[i : i + size] for i in range(0, len(text), size)]
    return pieces + [""] * (minimum - len(pieces))


def split_arguments(arguments: str, parts: int = 3) -> list[str]:
    """Split tool-call JSON arguments into at least 2 fragments."""
    parts = max(2, min(parts, len(arguments)))
    size = math.ceil(len(arguments) / parts)
    fragments = [arguments[i : i + size] for i in range(0, len(arguments), size)]
    while len(fragments) < 2:
        fragments.append("")
    return fragments


def usage_for(messages: list[JSONDict], reply: Reply) -> JSONDict:
    prompt_chars = sum(len(content_text(m.get("content"))) for m in messages)
    prompt_tokens = max(1, prompt_chars // 4)
    completion_tokens = max(1, reply.output_chars() // 4)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def decide(
    messages: list[JSONDict],
    last_user_clean: str,
    after: list[JSONDict],
    d: Directives,
    offered: set[str],
) -> Reply:
    """The deterministic reply for a (directive-free) turn."""
    delay = d.stream[1] if d.stream else 0.0
    if d.loop:
        return Reply(tool_calls=[_call("list_tasks", {"status": "all"})])

    tool_results = [m for m in after if m.get("role") == "tool"]

    def answer_text(text: str) -> Reply:
        return Reply(text=text, chunks=text_chunks(text), chunk_delay=delay)

    def call_or_refuse(name: str, args: JSONDict) -> Reply:
        if name not in offered:
            return answer_text(CANNOT)
        return Reply(tool_calls=[_call(name, args)])

    def summary() -> Reply:
        last = tool_results[-1]
        name = _tool_name_for(last, messages)
        return answer_text(summarize_tool_result(content_text(last.get("content")), name))

    if d.tool is not None:
        return summary() if tool_results else call_or_refuse(*d.tool)
    if d.bad_args is not None:
        if tool_results:
            return summary()
        if d.bad_args not in offered:
            return answer_text(CANNOT)
        return Reply(
            tool_calls=[ToolCall(f"call_{secrets.token_hex(6)}", d.bad_args, BAD_ARGUMENTS)]
        )
    if d.stream is not None:
        count = d.stream[0]
        chunks = [f"chunk{i}" if i == 1 else f" chunk{i}" for i in range(1, count + 1)]
        return Reply(text="".join(chunks), chunks=chunks, chunk_delay=delay)
    if tool_results:
        return summary()
    intent = intent_for(last_user_clean)
    if intent is not None:
        return call_or_refuse(*intent)
    return answer_text(f"You said: {last_user_clean}".rstrip())
