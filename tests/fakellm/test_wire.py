"""The fake's replies through the real `openai` SDK, streamed and not."""

from __future__ import annotations

import json
import time
from typing import Any

from openai import OpenAI

from fakellm import FakeLLM
from tests.fakellm.support import CALL_ID, TOOLS, stream_chunks, user

# ---- streaming -------------------------------------------------------------------------------


def test_streaming_text_assembles_and_ends_with_usage(client: OpenAI) -> None:
    chunks = stream_chunks(
        client,
        [{"role": "system", "content": "You are terse."}, *user("hello there world")],
        stream_options={"include_usage": True},
    )
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    with_choices = [c for c in chunks if c.choices]
    pieces = [c.choices[0].delta.content for c in with_choices if c.choices[0].delta.content]
    assert "".join(pieces) == "You said: hello there world"
    assert len(pieces) >= 3
    assert with_choices[0].choices[0].delta.role == "assistant"
    assert with_choices[-1].choices[0].finish_reason == "stop"

    usage_chunk = chunks[-1]
    assert usage_chunk.choices == []
    assert usage_chunk.usage is not None
    prompt_chars = len("You are terse.") + len("hello there world")
    assert usage_chunk.usage.prompt_tokens == prompt_chars // 4
    assert usage_chunk.usage.completion_tokens == len("You said: hello there world") // 4
    assert usage_chunk.usage.total_tokens == (
        usage_chunk.usage.prompt_tokens + usage_chunk.usage.completion_tokens
    )
    # Only the final chunk carries usage.
    assert all(c.usage is None for c in chunks[:-1])


def test_streaming_without_include_usage_sends_no_usage_chunk(client: OpenAI) -> None:
    chunks = stream_chunks(client, user("hi"))
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)


def test_streamed_tool_call_assembles_into_json(client: OpenAI) -> None:
    chunks = stream_chunks(client, user("Please add a task to Buy milk!"), tools=TOOLS)
    calls: dict[int, dict[str, Any]] = {}
    fragments: dict[int, int] = {}
    finish_reason = None
    for chunk in chunks:
        choice = chunk.choices[0]
        finish_reason = choice.finish_reason or finish_reason
        assert choice.delta.content is None
        for delta in choice.delta.tool_calls or []:
            call = calls.setdefault(delta.index, {"id": None, "name": "", "arguments": ""})
            if delta.id:
                assert call["id"] is None, "id must only arrive on the first chunk of a call"
                call["id"] = delta.id
                assert delta.type == "function"
            if delta.function and delta.function.name:
                call["name"] += delta.function.name
            if delta.function and delta.function.arguments:
                call["arguments"] += delta.function.arguments
                fragments[delta.index] = fragments.get(delta.index, 0) + 1
    assert finish_reason == "tool_calls"
    assert list(calls) == [0]
    assert CALL_ID.match(calls[0]["id"])
    assert calls[0]["name"] == "add_task"
    assert json.loads(calls[0]["arguments"]) == {"title": "Buy milk"}
    assert fragments[0] >= 2


def test_stream_directive_paces_chunks(client: OpenAI) -> None:
    start = time.monotonic()
    stamps: list[float] = []
    pieces: list[str] = []
    stream = client.chat.completions.create(
        model="fake", messages=user("go [[stream=4,0.1]]"), stream=True
    )
    with stream:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
                stamps.append(time.monotonic() - start)
    assert pieces == ["chunk1", " chunk2", " chunk3", " chunk4"]
    assert stamps[-1] - stamps[0] >= 0.25


def test_closing_a_stream_early_counts_as_cancelled(llm: FakeLLM, client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="fake", messages=user("[[stream=50,0.1]]"), stream=True
    )
    start = time.monotonic()
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            break
    stream.close()
    deadline = time.monotonic() + 3
    while llm.cancelled == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert llm.cancelled == 1
    assert time.monotonic() - start < 2


# ---- non-streaming ---------------------------------------------------------------------------


def test_non_streaming_text(client: OpenAI) -> None:
    completion = client.chat.completions.create(model="fake-model", messages=user("hi there"))
    assert completion.object == "chat.completion"
    assert completion.model == "fake-model"
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content == "You said: hi there"
    assert choice.message.tool_calls is None
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 2
    assert completion.usage.completion_tokens == len("You said: hi there") // 4


def test_non_streaming_tool_call(client: OpenAI) -> None:
    completion = client.chat.completions.create(
        model="fake", messages=user("rename task 3 to Walk the dog."), tools=TOOLS
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert choice.message.tool_calls is not None
    (call,) = choice.message.tool_calls
    assert call.type == "function"
    assert CALL_ID.match(call.id)
    assert call.function.name == "update_task"
    assert json.loads(call.function.arguments) == {"task_id": 3, "title": "Walk the dog"}


def test_tool_result_gets_a_summary(client: OpenAI) -> None:
    messages: list[Any] = [
        *user("add task buy milk"),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_000000000001",
                    "type": "function",
                    "function": {"name": "add_task", "arguments": '{"title": "buy milk"}'},
                }
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "call_000000000001",
            "content": json.dumps({"id": 7, "title": "buy milk", "completed": False}),
        },
    ]
    completion = client.chat.completions.create(model="fake", messages=messages, tools=TOOLS)
    assert completion.choices[0].message.content == 'Done. add_task: "buy milk" (created).'
    assert completion.choices[0].finish_reason == "stop"


def test_tool_not_offered_is_refused(client: OpenAI) -> None:
    completion = client.chat.completions.create(
        model="fake", messages=user("list my tasks"), tools=TOOLS[:1]
    )
    assert completion.choices[0].message.content == "I cannot do that."
    assert completion.choices[0].message.tool_calls is None


def test_tool_directive_then_text(client: OpenAI) -> None:
    text = 'try it [[tool=complete_task {"task_id": 999}]]'
    first = client.chat.completions.create(model="fake", messages=user(text), tools=TOOLS)
    assert first.choices[0].message.tool_calls is not None
    call = first.choices[0].message.tool_calls[0]
    assert call.type == "function"  # SDK 3.x: a union of function and custom tool calls
    assert call.function.name == "complete_task"
    assert json.loads(call.function.arguments) == {"task_id": 999}
    messages: list[Any] = [
        *user(text),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": "complete_task", "arguments": call.function.arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": "Error: task 999 not found"},
    ]
    second = client.chat.completions.create(model="fake", messages=messages, tools=TOOLS)
    assert second.choices[0].message.content == "Sorry, that failed: Error: task 999 not found"


def test_loop_directive_always_calls_list_tasks(client: OpenAI) -> None:
    messages: list[Any] = [*user("[[loop]] what now")]
    for step in range(3):
        completion = client.chat.completions.create(model="fake", messages=messages, tools=TOOLS)
        message = completion.choices[0].message
        assert message.content is None
        assert message.tool_calls is not None
        call = message.tool_calls[0]
        assert call.type == "function"
        assert call.function.name == "list_tasks"
        assert json.loads(call.function.arguments) == {"status": "all"}
        messages.append(message.model_dump(exclude_none=True))
        messages.append({"role": "tool", "tool_call_id": call.id, "content": f"[{step}]"})
