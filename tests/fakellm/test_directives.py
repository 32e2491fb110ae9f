"""Directives that make the fake fail, stall or misbehave, seen through the real SDK."""

from __future__ import annotations

import json
import time
from typing import Any

import openai
import pytest
from openai import OpenAI

from fakellm import FakeLLM
from fakellm.directives import parse_directives
from tests.fakellm.support import TOOLS, stream_chunks, user

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


def test_retry_after_directive_sets_the_header_and_requests_are_timed(
    llm: FakeLLM, client: OpenAI
) -> None:
    before = time.time()
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(
            model="fake", messages=user("[[error_times=1,429]] [[retry_after=2.5]]")
        )
    assert info.value.response.headers["retry-after"] == "2.5"
    assert len(llm.request_times) == len(llm.requests) == 1
    assert before <= llm.request_times[0] <= time.time()


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


def test_parse_directives() -> None:
    clean, d = parse_directives(
        'a [[latency=0.5]] b [[tool=x {"k": [[1]]}]] c [[stream=3,0.1]] [[not a directive]]'
    )
    assert clean == "a b c [[not a directive]]"
    assert d.latency == 0.5
    assert d.tool == ("x", {"k": [[1]]})
    assert d.stream == (3, 0.1)
    assert d.error is None and not d.loop and not d.garbage
