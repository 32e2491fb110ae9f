"""Helpers for the API tests: an unauthenticated client and direct row counts."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from fakellm import FakeLLM
from tests.conftest import running_stack
from tests.stack import Stack

# The submit limit of the `limited` stack: turns per user per minute.
SUBMITS_PER_MINUTE = 3


@pytest.fixture
def anon(stack: Stack) -> Iterator[httpx.Client]:
    """A client that sends no Authorization header."""
    client = httpx.Client(base_url=stack.api_url, timeout=30)
    yield client
    client.close()


@pytest.fixture(scope="session")
def limited(
    request: pytest.FixtureRequest,
    stack: Stack,
    llm: FakeLLM,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """A stack of the same tier allowing SUBMITS_PER_MINUTE turns per user per minute."""
    workdir = tmp_path_factory.mktemp(f"limited-{stack.tier}")
    env = {"RATE_LIMIT_RUNS_PER_MINUTE": str(SUBMITS_PER_MINUTE)}
    with running_stack(request, stack.tier, workdir, llm, extra_env=env) as s:
        yield s


def count(stack: Stack, table: str, **where: str) -> int:
    """Rows of `table` matching the equality filters, read straight from the database."""
    clause = " AND ".join(f"{column} = :{column}" for column in where) or "1 = 1"
    rows = stack.sql(f"SELECT COUNT(*) FROM {table} WHERE {clause}", **where)
    return int(rows[0][0])


def create_conversation(client: httpx.Client, **body: object) -> dict[str, object]:
    response = client.post("/v1/conversations", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, object] = response.json()
    return result
