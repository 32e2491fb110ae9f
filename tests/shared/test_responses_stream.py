"""The run-events → Responses-events translation on its own: the turns a fake LLM rarely makes."""

from __future__ import annotations

import typing
from typing import Any

from openai.types.responses import ResponseStreamEvent
from pydantic import BaseModel

from shared.events.schemas import Event
from shared.responses.objects import ResponseContext
from shared.responses.stream import STEP, StreamTranslator

RUN_ID = "run_01abc"


def sdk_event_types() -> dict[str, type[BaseModel]]:
    """The SDK's stream event models by their `type` literal."""
    union = typing.get_args(ResponseStreamEvent)[0]
    models: tuple[type[BaseModel], ...] = typing.get_args(union)
    return {typing.get_args(m.model_fields["type"].annotation)[0]: m for m in models}


SDK_EVENTS = sdk_event_types()


def run(status: str, **fields: Any) -> dict[str, Any]:
    body = {
        "id": RUN_ID,
        "object": "run",
        "conversation_id": "conv_1",
        "status": status,
        "input": {"message": "hi"},
        "output": None,
        "error": None,
        "usage": None,
        "metadata": {},
        "webhook_url": None,
        "created_at": "2026-01-01T00:00:00Z",
        "started_at": None,
        "finished_at": None,
    }
    return {"run": {**body, **fields}}


def call(call_id: str, *, done: bool = False, is_error: bool = False) -> dict[str, Any]:
    result = ({"error": "no such task"} if is_error else {"status": "created"}) if done else None
    return {
        "tool_call": {
            "id": call_id,
            "tool_name": "add_task",
            "arguments": {"title": "milk"},
            "result": result,
            "is_error": is_error,
        }
    }


def translate(*items: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    translator = StreamTranslator(RUN_ID, ResponseContext())
    out: list[dict[str, Any]] = []
    for number, (kind, data) in enumerate(items, start=1):
        out += translator.translate(Event(RUN_ID, number, kind, data))
    for event in out:  # every event validates as the SDK's own model (it has no cancelled one)
        if event["type"] != "response.cancelled":
            SDK_EVENTS[event["type"]].model_validate(event)
    return out


def test_text_before_a_tool_call_is_a_message_of_its_own() -> None:
    done = run(
        "completed",
        output={"response": "Done.", "tool_calls": [call("tc_1", done=True)["tool_call"]]},
    )
    events = translate(
        ("run.queued", run("queued")),
        ("run.in_progress", run("in_progress")),
        ("message.delta", {"delta": "Let me add that. "}),
        ("tool_call.started", call("tc_1")),
        ("tool_call.completed", call("tc_1", done=True)),
        ("message.delta", {"delta": "Done."}),
        ("message.completed", {"message": {"content": "Done.", "status": "completed"}}),
        ("run.completed", done),
    )
    added = [e for e in events if e["type"] == "response.output_item.added"]
    assert [(e["output_index"], e["item"]["type"]) for e in added] == [
        (0, "message"),
        (1, "mcp_call"),
        (2, "message"),
    ]
    finished = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert [i["content"][0]["text"] for i in finished if i["type"] == "message"] == [
        "Let me add that. ",
        "Done.",
    ]
    final = events[-1]["response"]
    # The Response keeps the final reply, under the id the stream gave it.
    assert final["output"][-1]["id"] == added[-1]["item"]["id"]
    numbers = [e["sequence_number"] for e in events]
    assert numbers == sorted(set(numbers))
    assert all(n // STEP == 3 for n in numbers if 30 <= n < 40)  # event 4 → 30..39


def test_a_retried_attempt_cuts_off_the_lost_reply_and_reuses_tool_items() -> None:
    events = translate(
        ("run.queued", run("queued")),
        ("run.in_progress", run("in_progress")),
        ("tool_call.started", call("tc_1")),
        ("message.delta", {"delta": "half a rep"}),
        ("run.in_progress", run("in_progress")),  # the worker was lost; another one resumes
        ("tool_call.started", call("tc_1")),
        ("tool_call.completed", call("tc_1", done=True)),
        ("message.completed", {"message": {"content": "All done.", "status": "completed"}}),
        ("run.completed", run("completed")),
    )
    types = [e["type"] for e in events]
    assert types.count("response.output_item.added") == 3  # call, lost reply, final reply
    lost = [e for e in events if e["type"] == "response.output_item.done"][0]["item"]
    assert lost["status"] == "incomplete" and lost["content"][0]["text"] == "half a rep"
    messages = [e["item"]["id"] for e in events if e["type"] == "response.output_item.added"][1:]
    assert len(set(messages)) == 2
    # A reply that came without deltas still streams its text once.
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert deltas == ["half a rep", "All done."]


def test_failed_tool_and_failed_run() -> None:
    events = translate(
        ("run.queued", run("queued")),
        ("tool_call.completed", call("tc_9", done=True, is_error=True)),  # no started seen
        ("message.delta", {"delta": "Sorr"}),
        ("run.failed", run("failed", error={"code": "llm_error", "message": "down"})),
    )
    types = [e["type"] for e in events]
    assert "response.mcp_call.failed" in types
    item = [e for e in events if e["type"] == "response.output_item.done"][0]["item"]
    assert item["status"] == "failed" and item["error"]["type"] == "mcp_tool_execution_error"
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.failed",
    ]
    error = events[-1]["response"]["error"]
    assert error == {"code": "server_error", "message": "down", "type": "llm_error", "param": None}


def test_a_pruned_log_still_ends_with_the_full_response_under_its_own_number() -> None:
    translator = StreamTranslator(RUN_ID, ResponseContext("run_00prev"))
    ending = run("completed", output={"response": "ok", "tool_calls": []})
    events = translator.translate(Event(RUN_ID, 17, "run.completed", ending))
    assert [(e["type"], e["sequence_number"]) for e in events] == [("response.completed", 160)]
    response = events[0]["response"]
    assert response["previous_response_id"] == "run_00prev"
    assert response["output"][0]["content"][0]["text"] == "ok"
