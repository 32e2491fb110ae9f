"""A run's events as the Responses API's stream events, numbered from the run's event ids.

Parley event N becomes at most STEP Responses events, numbered (N-1)*STEP, (N-1)*STEP+1, …
So a sequence number names the same event in every API process and after the run ended:
resuming after sequence number S replays the run's log from its start through the same
(pure) translation and sends only what lies beyond S. Numbers increase but have gaps, which
the Responses API allows (clients compare them, they do not count them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from shared.conversations.schemas import ToolCallOut
from shared.events.schemas import Event
from shared.responses.objects import (
    ResponseContext,
    mcp_call,
    message_id,
    message_item,
    response_object,
    text_part,
)
from shared.runs.schemas import RunOut

# The most Responses events one Parley event yields is 6 (a tool call closing an open
# message; a message completed without deltas); 10 keeps room and reads well.
STEP = 10
TERMINAL = {
    "run.completed": "response.completed",
    "run.failed": "response.failed",
    "run.cancelled": "response.cancelled",
}


@dataclass
class _OpenMessage:
    item_id: str
    output_index: int
    text: str = ""


@dataclass
class StreamTranslator:
    """Turns one run's events, fed in order from its first, into Responses stream events."""

    run_id: str
    context: ResponseContext
    next_index: int = 0
    message: _OpenMessage | None = None
    calls: dict[str, int] = field(default_factory=dict)
    finished_calls: set[str] = field(default_factory=set)
    message_ids: set[str] = field(default_factory=set)

    def translate(self, event: Event) -> list[dict[str, Any]]:
        """The Responses events for one run event, each with its `sequence_number`."""
        out = self._events_for(event)
        if len(out) > STEP:  # cannot happen by construction; never reuse a number
            raise RuntimeError(f"event {event.id} of {event.run_id} maps to {len(out)} events")
        base = (event.id - 1) * STEP
        return [
            {"type": kind, "sequence_number": base + i, **data}
            for i, (kind, data) in enumerate(out)
        ]

    def _events_for(self, event: Event) -> list[tuple[str, dict[str, Any]]]:
        data = event.data
        if event.type == "run.queued":
            snapshot = self._response(data)
            return [("response.created", snapshot), ("response.queued", snapshot)]
        if event.type == "run.in_progress":
            # A retried attempt streams its reply again: what the lost one began stays cut off.
            return [
                *self._close_message("incomplete"),
                ("response.in_progress", self._response(data)),
            ]
        if event.type == "tool_call.started":
            return [*self._close_message("completed"), *self._call_started(data)]
        if event.type == "tool_call.completed":
            return self._call_completed(data)
        if event.type == "message.delta":
            return [*self._open_message(), *self._delta(str(data.get("delta", "")))]
        if event.type == "message.completed":
            message = data.get("message") or {}
            return self._message_completed(str(message.get("content") or ""), message.get("status"))
        if event.type in TERMINAL:
            status = "completed" if event.type == "run.completed" else "incomplete"
            return [*self._close_message(status), (TERMINAL[event.type], self._response(data))]
        return []  # a type this version does not know (e.g. approvals): nothing to show yet

    def _response(self, data: dict[str, Any]) -> dict[str, Any]:
        return {"response": response_object(RunOut.model_validate(data["run"]), self.context)}

    def _open_message(self) -> list[tuple[str, dict[str, Any]]]:
        if self.message is not None:
            return []
        index = self._take_index()
        item_id = message_id(self.run_id, len(self.calls))
        if item_id in self.message_ids:
            # Only after a lost attempt: its cut-off reply already has the id, so this reply
            # gets another (a GET names the final reply by the plain id).
            item_id += f"_{len(self.message_ids)}"
        self.message_ids.add(item_id)
        self.message = _OpenMessage(item_id, index)
        where = {"item_id": self.message.item_id, "output_index": index}
        return [
            (
                "response.output_item.added",
                {
                    "output_index": index,
                    "item": message_item(self.message.item_id, None, "in_progress"),
                },
            ),
            ("response.content_part.added", {**where, "content_index": 0, "part": text_part("")}),
        ]

    def _delta(self, text: str) -> list[tuple[str, dict[str, Any]]]:
        assert self.message is not None
        self.message.text += text
        where = {"item_id": self.message.item_id, "output_index": self.message.output_index}
        return [
            (
                "response.output_text.delta",
                {**where, "content_index": 0, "delta": text, "logprobs": []},
            )
        ]

    def _message_completed(self, text: str, status: Any) -> list[tuple[str, dict[str, Any]]]:
        out = self._open_message()
        assert self.message is not None
        if not self.message.text and text:
            out += self._delta(text)  # a reply that came without deltas still adds up
        self.message.text = text or self.message.text
        return out + self._close_message("incomplete" if status == "incomplete" else "completed")

    def _close_message(self, status: str) -> list[tuple[str, dict[str, Any]]]:
        message, self.message = self.message, None
        if message is None:
            return []
        where = {"item_id": message.item_id, "output_index": message.output_index}
        part = text_part(message.text)
        return [
            (
                "response.output_text.done",
                {**where, "content_index": 0, "text": message.text, "logprobs": []},
            ),
            ("response.content_part.done", {**where, "content_index": 0, "part": part}),
            (
                "response.output_item.done",
                {
                    "output_index": message.output_index,
                    "item": message_item(message.item_id, message.text, status),
                },
            ),
        ]

    def _call_started(self, data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        call = ToolCallOut.model_validate(data["tool_call"])
        if call.id in self.calls:
            return []  # re-issued by a retried attempt: the item is already there
        index = self.calls[call.id] = self._take_index()
        item = mcp_call(call, done=False)
        where = {"item_id": call.id, "output_index": index}
        return [
            ("response.output_item.added", {"output_index": index, "item": item}),
            ("response.mcp_call_arguments.done", {**where, "arguments": item["arguments"]}),
            ("response.mcp_call.in_progress", where),
        ]

    def _call_completed(self, data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        call = ToolCallOut.model_validate(data["tool_call"])
        if call.id in self.finished_calls:
            return []
        out = (
            []
            if call.id in self.calls
            else [*self._close_message("completed"), *self._call_started(data)]
        )
        self.finished_calls.add(call.id)
        item = mcp_call(call)
        where = {"item_id": call.id, "output_index": self.calls[call.id]}
        kind = "response.mcp_call.failed" if call.is_error else "response.mcp_call.completed"
        return [
            *out,
            (kind, where),
            ("response.output_item.done", {"output_index": where["output_index"], "item": item}),
        ]

    def _take_index(self) -> int:
        index, self.next_index = self.next_index, self.next_index + 1
        return index


def sse_frame(event: dict[str, Any]) -> bytes:
    """One Server-Sent Event as OpenAI sends them: `event:` (the type) and `data:` (JSON)."""
    data = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    return f"event: {event['type']}\ndata: {data}\n\n".encode()
