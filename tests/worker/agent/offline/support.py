"""Driving OfflineModel through whole turns, the way the agent loop drives it.

A tiny in-memory todo store answers the tool calls like the real tools do (JSON results, or
"Error executing tool X: task N not found"), and `run_turn` loops model call -> tool results ->
model call until the model answers with text.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import Any

import pytest

from worker.agent.model import ModelReply
from worker.agent.offline import OfflineModel

Message = dict[str, Any]


def _spec(name: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": name.replace("_", " "),
            "parameters": {"type": "object", "properties": properties, "required": required},
        },
    }


_ID = {"task_id": {"type": "integer"}}
TOOLS: list[dict[str, Any]] = [
    _spec(
        "add_task",
        {"title": {"type": "string"}, "description": {"type": "string"}},
        ["title"],
    ),
    _spec(
        "list_tasks",
        {"status": {"type": "string", "enum": ["all", "pending", "completed"]}},
        [],
    ),
    _spec("complete_task", _ID, ["task_id"]),
    _spec("delete_task", _ID, ["task_id"]),
    _spec(
        "update_task",
        {
            **_ID,
            "title": {"type": "string"},
            "description": {"type": "string"},
            "completed": {"type": "boolean"},
        },
        ["task_id"],
    ),
]


def tools_without(*names: str) -> list[dict[str, Any]]:
    return [t for t in TOOLS if t["function"]["name"] not in names]


class TodoStore:
    """Behaves like the real todo tools, over a list of dicts."""

    def __init__(self, *titles: str, done: tuple[int, ...] = (), fail_with: str = "") -> None:
        self.tasks: list[dict[str, Any]] = []
        self.fail_with = fail_with
        for title in titles:
            self._add(title, "")
        for task in self.tasks:
            task["completed"] = task["id"] in done

    def titles(self) -> list[str]:
        return [t["title"] for t in self.tasks]

    def get(self, task_id: int) -> dict[str, Any]:
        return next(t for t in self.tasks if t["id"] == task_id)

    def execute(self, name: str, args: dict[str, Any]) -> str:
        if self.fail_with:
            return f"Error executing tool {name}: {self.fail_with}"
        if name == "add_task":
            new = self._add(args["title"], args.get("description", ""))
            return json.dumps({"task_id": new["id"], "status": "created", "title": new["title"]})
        if name == "list_tasks":
            status = args.get("status", "all")
            shown = [
                t
                for t in self.tasks
                if status == "all" or t["completed"] == (status == "completed")
            ]
            return json.dumps(shown)
        task: dict[str, Any] | None = next(
            (t for t in self.tasks if t["id"] == args["task_id"]), None
        )
        if task is None:
            return f"Error executing tool {name}: task {args['task_id']} not found"
        if name == "complete_task":
            task["completed"] = True
            status = "completed"
        elif name == "delete_task":
            self.tasks.remove(task)
            status = "deleted"
        else:
            fields = ("title", "description", "completed")
            task.update({k: v for k, v in args.items() if k in fields})
            status = "updated"
        result = {"task_id": task["id"], "status": status, "title": task["title"]}
        if name == "update_task":
            result["completed"] = task["completed"]
        return json.dumps(result)

    def _add(self, title: str, description: str) -> dict[str, Any]:
        next_id = max((t["id"] for t in self.tasks), default=0) + 1
        task = {"id": next_id, "title": title, "description": description, "completed": False}
        self.tasks.append(task)
        return task


@dataclass
class Turn:
    reply: str
    calls: list[tuple[str, dict[str, Any]]]
    messages: list[Message]
    deltas: list[str]


def complete(
    messages: list[Message], tools: list[dict[str, Any]] | None = None
) -> tuple[ModelReply, list[str]]:
    """One model call; returns the reply and the streamed deltas."""
    deltas: list[str] = []

    async def on_delta(delta: str) -> None:
        deltas.append(delta)

    model = OfflineModel()
    reply = asyncio.run(model.complete(messages, TOOLS if tools is None else tools, on_delta))
    return reply, deltas


def assistant_calls(reply: ModelReply) -> Message:
    """The assistant message the agent loop records for a reply's tool calls."""
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in reply.tool_calls
        ],
    }


def run_turn(
    text: str,
    store: TodoStore,
    history: list[Message] | None = None,
    tools: list[dict[str, Any]] | None = None,
) -> Turn:
    """Simulate the agent loop for one user message until the model answers with text."""
    tools = TOOLS if tools is None else tools
    offered = {t["function"]["name"] for t in tools}
    messages = [*(history or []), {"role": "user", "content": text}]
    calls: list[tuple[str, dict[str, Any]]] = []
    for _ in range(8):
        reply, deltas = complete(messages, tools)
        assert reply.usage.total_tokens == 0
        if not reply.tool_calls:
            assert "".join(deltas) == reply.content
            messages.append({"role": "assistant", "content": reply.content})
            return Turn(reply.content, calls, messages, deltas)
        assert deltas == [] and reply.content == ""
        messages.append(assistant_calls(reply))
        for call in reply.tool_calls:
            assert call.name in offered, f"called {call.name}, which was not offered"
            assert re.fullmatch(r"call_[0-9a-f]{12}", call.id)
            args = json.loads(call.arguments)
            calls.append((call.name, args))
            content = store.execute(call.name, args)
            messages.append({"role": "tool", "tool_call_id": call.id, "content": content})
    pytest.fail(f"no text reply to {text!r} after 8 model calls: {calls}")


def seeded() -> TodoStore:
    return TodoStore("Buy milk", "Pay bills", "Team meeting", done=(2,))


ALL = "You have 3 tasks: 1. Buy milk (pending), 2. Pay bills (done), 3. Team meeting (pending)."
PENDING = "You have 2 pending tasks: 1. Buy milk, 3. Team meeting."
COMPLETED = "You have 1 completed task: 2. Pay bills."
