"""The fake chat-completions server, exercised through the real `openai` SDK."""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from tests.fakellm import (
    FakeLLM,
    intent_for,
    parse_directives,
    summarize_tool_result,
    text_chunks,
)

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


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLM]:
    llm = FakeLLM().start()
    try:
        yield llm
    finally:
        llm.stop()


@pytest.fixture
def llm(server: FakeLLM) -> FakeLLM:
    server.reset()
    server.latency = 0.0
    return server


@pytest.fixture
def client(llm: FakeLLM) -> Iterator[OpenAI]:
    with OpenAI(base_url=llm.base_url, api_key="test", max_retries=0) as c:
        yield c


def user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def stream_chunks(client: OpenAI, messages: list[Any], **kwargs: Any) -> list[Any]:
    stream = client.chat.completions.create(model="fake", messages=messages, stream=True, **kwargs)
    with stream:
        return list(stream)


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


# ---- errors and latency ----------------------------------------------------------------------


def test_error_directive_raises_internal_server_error(client: OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="fake", messages=user("boom [[error=500]]"))
    assert info.value.status_code == 500
    assert isinstance(info.value.body, dict)
    assert info.value.body["type"] == "server_error"
    assert "message" in info.value.body and "code" in info.value.body


def test_error_429_sends_retry_after(client: OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="fake", messages=user("[[error=429]]"), stream=True)
    assert info.value.response.headers["retry-after"] == "0"


def test_error_times_fails_then_succeeds(llm: FakeLLM, client: OpenAI) -> None:
    messages = user("flaky [[error_times=1,503]]")
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="fake", messages=messages)
    assert info.value.status_code == 503
    completion = client.chat.completions.create(model="fake", messages=messages)
    assert completion.choices[0].message.content == "You said: flaky"
    assert len(llm.requests) == 2


def test_latency_directive(client: OpenAI) -> None:
    start = time.monotonic()
    client.chat.completions.create(model="fake", messages=user("slow [[latency=0.3]]"))
    assert time.monotonic() - start >= 0.3


def _after_tool(text: str, client: OpenAI, timeout: float) -> Any:
    """A second step of a [[tool=...]] turn: the tool result is in the messages."""
    first = client.chat.completions.create(model="fake", messages=user(text), tools=TOOLS)
    assert first.choices[0].message.tool_calls is not None
    call = first.choices[0].message.tool_calls[0]
    messages: list[Any] = [
        *user(text),
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"title": "x"}'},
    ]
    return client.with_options(timeout=timeout).chat.completions.create(
        model="fake", messages=messages, tools=TOOLS
    )


def test_latency_after_tool_slows_only_the_step_after_a_tool_and_only_n_times(
    client: OpenAI,
) -> None:
    text = '[[tool=add_task {"title": "x"}]] [[latency_after_tool=30,1]]'
    # The first step (no tool result yet) is not slowed: it answers well within the timeout.
    with pytest.raises(openai.APITimeoutError):
        _after_tool(text, client, timeout=1)
    second = _after_tool(text, client, timeout=20)
    assert second.choices[0].message.content == 'Done. add_task: "x" (created).'


def test_bad_args_directive_sends_invalid_json_then_text(client: OpenAI) -> None:
    text = "go [[bad_args=add_task]]"
    first = client.chat.completions.create(model="fake", messages=user(text), tools=TOOLS)
    calls = first.choices[0].message.tool_calls
    assert calls is not None and calls[0].type == "function"
    assert calls[0].function.name == "add_task"
    with pytest.raises(json.JSONDecodeError):
        json.loads(calls[0].function.arguments)
    messages: list[Any] = [
        *user(text),
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": calls[0].id, "content": "Error: not valid JSON"},
    ]
    second = client.chat.completions.create(model="fake", messages=messages, tools=TOOLS)
    assert second.choices[0].message.content == "Sorry, that failed: Error: not valid JSON"
    refused = client.chat.completions.create(model="fake", messages=user(text), tools=TOOLS[1:])
    assert refused.choices[0].message.content == "I cannot do that."


def test_garbage_directive_breaks_the_client(client: OpenAI) -> None:
    with pytest.raises((json.JSONDecodeError, openai.APIError)):
        client.chat.completions.create(model="fake", messages=user("[[garbage]]"))
    with pytest.raises((json.JSONDecodeError, openai.APIError)):
        stream_chunks(client, user("[[garbage]]"))


def test_bad_directive_is_a_400(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="directive"):
        client.chat.completions.create(model="fake", messages=user("[[latency=soon]]"))


# ---- bookkeeping -----------------------------------------------------------------------------


def test_requests_are_recorded(llm: FakeLLM, client: OpenAI) -> None:
    client.chat.completions.create(model="fake-a", messages=user("one"))
    stream_chunks(client, user("two"), tools=TOOLS, stream_options={"include_usage": True})
    assert [r["model"] for r in llm.requests] == ["fake-a", "fake"]
    assert llm.requests[0]["messages"] == [{"role": "user", "content": "one"}]
    assert "stream" not in llm.requests[0] or llm.requests[0]["stream"] is False
    assert llm.requests[1]["stream"] is True
    assert llm.requests[1]["stream_options"] == {"include_usage": True}
    assert [t["function"]["name"] for t in llm.requests[1]["tools"]] == TOOL_NAMES

    with urllib.request.urlopen(llm.base_url.removesuffix("/v1") + "/_stats") as response:
        assert json.load(response) == {"requests": 2}


def test_models_endpoint(client: OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["fake-llm"]


def test_concurrent_slow_calls_overlap(llm: FakeLLM) -> None:
    llm.latency = 0.5

    async def run() -> float:
        async with AsyncOpenAI(base_url=llm.base_url, api_key="test", max_retries=0) as client:

            async def one(i: int) -> str:
                stream = await client.chat.completions.create(
                    model="fake", messages=user(f"hello {i}"), stream=True
                )
                parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
                return "".join(parts)

            start = time.monotonic()
            replies = await asyncio.gather(*(one(i) for i in range(50)))
            elapsed = time.monotonic() - start
            assert replies == [f"You said: hello {i}" for i in range(50)]
            return elapsed

    elapsed = asyncio.run(run())
    assert 0.5 <= elapsed < 5
    assert len(llm.requests) == 50


# ---- pure helpers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("add a task to Buy milk.", ("add_task", {"title": "Buy milk"})),
        ("Add task call the bank", ("add_task", {"title": "call the bank"})),
        ("remind me to water plants!", ("add_task", {"title": "water plants"})),
        ("show me my tasks", ("list_tasks", {"status": "all"})),
        ("List pending tasks", ("list_tasks", {"status": "pending"})),
        ("which tasks are done? list them", ("list_tasks", {"status": "completed"})),
        ("complete task 4", ("complete_task", {"task_id": 4})),
        ("Mark task #2 as done", ("complete_task", {"task_id": 2})),
        ("delete task 9", ("delete_task", {"task_id": 9})),
        ("rename task 1 to Pay rent", ("update_task", {"task_id": 1, "title": "Pay rent"})),
        ("how are you?", None),
    ],
)
def test_intent_for(text: str, expected: tuple[str, dict[str, Any]] | None) -> None:
    assert intent_for(text) == expected


def test_parse_directives() -> None:
    clean, d = parse_directives(
        'a [[latency=0.5]] b [[tool=x {"k": [[1]]}]] c [[stream=3,0.1]] [[not a directive]]'
    )
    assert clean == "a b c [[not a directive]]"
    assert d.latency == 0.5
    assert d.tool == ("x", {"k": [[1]]})
    assert d.stream == (3, 0.1)
    assert d.error is None and not d.loop and not d.garbage


def test_summaries() -> None:
    assert summarize_tool_result("[]", "list_tasks") == "Done. You have 0 task(s)."
    listed = json.dumps([{"title": "a"}, {"title": "b"}])
    assert summarize_tool_result(listed, "list_tasks") == "Done. You have 2 task(s): a, b."
    assert summarize_tool_result("Error: nope", "x") == "Sorry, that failed: Error: nope"


def test_text_chunks_are_at_least_three() -> None:
    assert text_chunks("a b c d") == ["a", " b", " c", " d"]
    assert "".join(text_chunks("You said:")) == "You said:"
    assert len(text_chunks("ok")) >= 3


def test_stop_cuts_in_flight_streams_short() -> None:
    llm = FakeLLM().start()
    client = OpenAI(base_url=llm.base_url, api_key="test", max_retries=0)
    stream = client.chat.completions.create(
        model="fake", messages=user("[[stream=100,0.5]]"), stream=True
    )
    first = next(iter(stream))
    assert first.choices[0].delta.role == "assistant"
    start = time.monotonic()
    llm.stop()
    assert time.monotonic() - start < 1.0
    # The SDK ends a stream cut off before `data: [DONE]` silently: no finish_reason, no error.
    rest = list(stream)
    assert len(rest) < 99
    assert all(c.choices[0].finish_reason is None for c in rest)
    client.close()
