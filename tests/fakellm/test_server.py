"""The server itself: request records, the models endpoint, concurrency, and stopping."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request

from openai import AsyncOpenAI, OpenAI

from fakellm import FakeLLM
from tests.fakellm.support import TOOL_NAMES, TOOLS, stream_chunks, user

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
