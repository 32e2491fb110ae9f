"""One fake LLM server per test module, reset before each test, and an SDK client for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openai import OpenAI

from fakellm import FakeLLM


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
