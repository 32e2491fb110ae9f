"""One run's events as ChatKit stream events: deltas update the reply, tool calls show progress.

Fed a run's events in order from its first. A run picked up again after a lost worker
streams its reply from the start: the open reply is reset to empty, so the client ends with
one reply, the one the run kept.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageContentPartAdded,
    AssistantMessageContentPartDone,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    NoticeEvent,
    ProgressUpdateEvent,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemUpdatedEvent,
    ThreadStreamEvent,
)

from shared.chatkit.items import assistant_item, reply_item_id, tool_item
from shared.conversations.schemas import ToolCallOut
from shared.events.schemas import Event


@dataclass
class RunRelay:
    """Translates one run's events; `failure` is set when the run failed (with its message)."""

    thread_id: str
    run_id: str
    text: str | None = None  # the open reply's text so far; None: no reply open
    replied: bool = False
    failure: str | None = None
    started_calls: set[str] = field(default_factory=set)
    finished_calls: set[str] = field(default_factory=set)

    @property
    def item_id(self) -> str:
        return reply_item_id(self.run_id)

    def translate(self, event: Event) -> list[ThreadStreamEvent]:
        data = event.data
        if event.type == "run.in_progress" and self.text is not None:
            # A new attempt streams the reply again from its start.
            restart = AssistantMessageContentPartAdded(content_index=0, content=_part())
            self.text = ""
            return [self._update(restart)]
        if event.type == "tool_call.started":
            return self._call_started(ToolCallOut.model_validate(data["tool_call"]))
        if event.type == "tool_call.completed":
            return self._call_completed(ToolCallOut.model_validate(data["tool_call"]))
        if event.type == "message.delta":
            delta = str(data.get("delta", ""))
            out = self._open()
            self.text = (self.text or "") + delta
            delta_update = AssistantMessageContentPartTextDelta(content_index=0, delta=delta)
            return [*out, self._update(delta_update)]
        if event.type == "message.completed":
            return self._done(str((data.get("message") or {}).get("content") or ""))
        if event.type == "run.completed":
            output = (data.get("run") or {}).get("output") or {}
            return [] if self.replied else self._done(str(output.get("response") or ""))
        if event.type == "run.failed":
            self.failure = _error_message(data)
            return self._done(self.text) if self.text else []
        if event.type == "run.cancelled":
            closing = self._done(self.text) if self.text else []
            return [*closing, NoticeEvent(level="warning", message="This turn was cancelled.")]
        return []  # queued, requires_action and types this version does not know

    def _open(self) -> list[ThreadStreamEvent]:
        if self.text is not None:
            return []
        self.text = ""
        item = AssistantMessageItem(
            id=self.item_id, thread_id=self.thread_id, created_at=_now(), content=[]
        )
        added = AssistantMessageContentPartAdded(content_index=0, content=_part())
        return [ThreadItemAddedEvent(item=item), self._update(added)]

    def _done(self, text: str) -> list[ThreadStreamEvent]:
        """Close the reply with the text the run kept (the deltas' sum, or more)."""
        out = self._open()
        self.text, self.replied = None, True
        done = AssistantMessageContentPartDone(content_index=0, content=_part(text))
        item = assistant_item(self.thread_id, self.item_id, text, _now())
        return [*out, self._update(done), ThreadItemDoneEvent(item=item)]

    def _call_started(self, call: ToolCallOut) -> list[ThreadStreamEvent]:
        if call.id in self.started_calls:
            return []  # re-announced by a retried attempt
        self.started_calls.add(call.id)
        return [ProgressUpdateEvent(icon="bolt", text=f"Running {call.tool_name}…")]

    def _call_completed(self, call: ToolCallOut) -> list[ThreadStreamEvent]:
        if call.id in self.finished_calls:
            return []
        self.finished_calls.add(call.id)
        return [ThreadItemDoneEvent(item=tool_item(self.thread_id, call, _now()))]

    def _update(self, update: Any) -> ThreadStreamEvent:
        return ThreadItemUpdatedEvent(item_id=self.item_id, update=update)


def _part(text: str = "") -> AssistantMessageContent:
    return AssistantMessageContent(text=text)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _error_message(data: dict[str, Any]) -> str:
    error = (data.get("run") or {}).get("error") or {}
    return str(error.get("message") or "The turn failed.")
