"""The run-events → ChatKit-events relay on its own: retried attempts, failures, cancels."""

from __future__ import annotations

from typing import Any

from chatkit.types import AssistantMessageContentPartAdded as PartAdded
from chatkit.types import AssistantMessageContentPartDone as PartDone
from chatkit.types import AssistantMessageContentPartTextDelta as TextDelta
from chatkit.types import (
    AssistantMessageItem,
    NoticeEvent,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemUpdatedEvent,
    ThreadStreamEvent,
)

from shared.chatkit.relay import RunRelay
from shared.events.schemas import Event

RUN_ID = "run_01abc"
CALL = {"id": "tc_1", "tool_name": "add_task", "arguments": {"title": "milk"}}


def feed(*events: tuple[str, dict[str, Any]]) -> tuple[RunRelay, list[ThreadStreamEvent]]:
    relay = RunRelay("conv_1", RUN_ID)
    out: list[ThreadStreamEvent] = []
    for number, (kind, data) in enumerate(events, start=1):
        out += relay.translate(Event(RUN_ID, number, kind, data))
    return relay, out


def shown_text(events: list[ThreadStreamEvent]) -> str:
    """The reply as a ChatKit client builds it from the added item and its updates."""
    parts: list[str] | None = None
    for event in events:
        if isinstance(event, ThreadItemAddedEvent):
            assert isinstance(event.item, AssistantMessageItem)
            parts = [part.text for part in event.item.content]
        elif isinstance(event, ThreadItemUpdatedEvent):
            assert parts is not None and event.item_id == f"{RUN_ID}_reply"
            update = event.update
            assert isinstance(update, PartAdded | TextDelta | PartDone)
            parts += [""] * (update.content_index + 1 - len(parts))
            if isinstance(update, TextDelta):
                parts[update.content_index] += update.delta
            else:  # a part added or done replaces the part
                parts[update.content_index] = update.content.text
    assert parts is not None
    return "".join(parts)


def test_a_retried_attempt_restarts_the_reply_and_ends_with_one_item() -> None:
    tool = {"tool_call": {**CALL, "result": {"status": "created"}, "is_error": False}}
    _, events = feed(
        ("run.in_progress", {}),
        ("tool_call.started", {"tool_call": {**CALL, "result": None, "is_error": False}}),
        ("tool_call.completed", tool),
        ("message.delta", {"delta": "Added mi"}),
        ("run.in_progress", {}),  # the worker was lost; another attempt streams again
        ("tool_call.completed", tool),
        ("message.delta", {"delta": "Added "}),
        ("message.delta", {"delta": "milk."}),
        ("message.completed", {"message": {"content": "Added milk.", "status": "completed"}}),
        ("run.completed", {"run": {"output": {"response": "Added milk."}}}),
    )
    done = [e.item for e in events if isinstance(e, ThreadItemDoneEvent)]
    assert [i.type for i in done] == ["task", "assistant_message"]
    assert len([e for e in events if isinstance(e, ThreadItemAddedEvent)]) == 1
    assert shown_text(events) == "Added milk."
    assert done[-1].id == f"{RUN_ID}_reply"


def test_a_reply_without_deltas_still_arrives_whole() -> None:
    _, events = feed(
        ("run.in_progress", {}),
        ("run.completed", {"run": {"output": {"response": "Done."}}}),
    )
    assert shown_text(events) == "Done."
    assert isinstance(events[-1], ThreadItemDoneEvent)


def test_a_failure_keeps_what_was_said_and_reports_the_error() -> None:
    relay, events = feed(
        ("message.delta", {"delta": "Half"}),
        ("run.failed", {"run": {"error": {"code": "timeout", "message": "over 2 s"}}}),
    )
    assert shown_text(events) == "Half" and isinstance(events[-1], ThreadItemDoneEvent)
    assert relay.failure == "over 2 s"


def test_a_cancelled_turn_closes_its_reply_with_a_notice() -> None:
    relay, events = feed(("message.delta", {"delta": "Sta"}), ("run.cancelled", {"run": {}}))
    assert shown_text(events) == "Sta" and relay.failure is None
    assert isinstance(events[-1], NoticeEvent)
