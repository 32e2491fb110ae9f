"""The shape of an event and of the payloads each type carries (docs/api.md section 5)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from shared.conversations.models import Message
from shared.conversations.schemas import MessageOut
from shared.runs.models import Run
from shared.runs.schemas import RunOut

RUN_QUEUED = "run.queued"
RUN_IN_PROGRESS = "run.in_progress"
# The run waits for a person to approve tool calls (not terminal: the stream stays open).
RUN_REQUIRES_ACTION = "run.requires_action"
TOOL_CALL_STARTED = "tool_call.started"
TOOL_CALL_COMPLETED = "tool_call.completed"
MESSAGE_DELTA = "message.delta"
MESSAGE_COMPLETED = "message.completed"
# The next model call waits on the provider: {reason, retry_after} (seconds, or null).
RUN_WAITING = "run.waiting"
TERMINAL_TYPES = frozenset({"run.completed", "run.failed", "run.cancelled"})


@dataclass(frozen=True)
class Event:
    """One numbered event of a run, as stored, published and streamed."""

    run_id: str
    id: int
    type: str
    data: dict[str, Any]

    @property
    def terminal(self) -> bool:
        """The run's last event: streams close after it."""
        return self.type in TERMINAL_TYPES

    def to_wire(self) -> dict[str, Any]:
        """The WebSocket / pub-sub object: {type, id, run_id, data}."""
        return {"type": self.type, "id": self.id, "run_id": self.run_id, "data": self.data}

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> Event:
        return cls(str(raw["run_id"]), int(raw["id"]), str(raw["type"]), dict(raw["data"]))

    def sse(self) -> bytes:
        """The Server-Sent Events frame: `id:`, `event:` and one `data:` line of JSON."""
        data = json.dumps(self.data, separators=(",", ":"), ensure_ascii=False)
        return f"id: {self.id}\nevent: {self.type}\ndata: {data}\n\n".encode()


def run_data(run: Run) -> dict[str, Any]:
    """Payload of the run.* events: the Run object as GET /v1/runs/{id} shows it."""
    return {"run": RunOut.model_validate(run, from_attributes=True).model_dump(mode="json")}


def run_event_type(run: Run) -> str:
    """`run.<status>`, the event type announcing the run's current status."""
    return f"run.{run.status}"


def message_data(message: Message) -> dict[str, Any]:
    """Payload of message.completed: the assistant Message as the messages list shows it."""
    return {
        "message": MessageOut.model_validate(message, from_attributes=True).model_dump(mode="json")
    }


def tool_call_data(call: dict[str, Any]) -> dict[str, Any]:
    """Payload of tool_call.*: the contract's ToolCall object."""
    return {"tool_call": call}


def delta_data(text: str) -> dict[str, Any]:
    """Payload of message.delta: the text the model just wrote."""
    return {"delta": text}
