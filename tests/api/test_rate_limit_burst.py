"""The per-user submit limit holds under a burst: exactly the limit passes, on every path.

An attack run sent 200 parallel submits with a limit of 60 and got 125-129 through: the Redis
pool ran out of connections, the limiter took that for "Redis down", and the database count
it fell back to could not see requests still in flight.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fakellm import FakeLLM
from tests.conftest import running_stack
from tests.stack import Stack, make_token

LIMIT = 60
BURST = 200


@pytest.fixture(scope="module")
def burst_stack(
    request: pytest.FixtureRequest,
    stack: Stack,
    llm: FakeLLM,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """A stack of the same tier with a limit of 60 runs per minute, its own: a test stops its
    Redis (the shared `limited` stack must keep its broker)."""
    workdir: Path = tmp_path_factory.mktemp(f"burst-{stack.tier}")
    env = {"RATE_LIMIT_RUNS_PER_MINUTE": str(LIMIT)}
    with running_stack(request, stack.tier, workdir, llm, extra_env=env) as s:
        yield s


def burst(stack: Stack, user: str) -> Counter[int]:
    """BURST submits at once from one user; how many got each status."""

    async def send_all() -> Counter[int]:
        limits = httpx.Limits(max_connections=BURST, max_keepalive_connections=0)
        headers = {"Authorization": f"Bearer {make_token(user)}"}
        async with httpx.AsyncClient(
            base_url=stack.api_url, headers=headers, limits=limits, timeout=120
        ) as client:
            responses = await asyncio.gather(
                *(client.post("/v1/runs", json={"message": f"hi {i}"}) for i in range(BURST))
            )
        return Counter(r.status_code for r in responses)

    return asyncio.run(send_all())


def test_exactly_the_limit_passes_a_burst(burst_stack: Stack) -> None:
    statuses = burst(burst_stack, "burst-user")
    assert statuses == {202: LIMIT, 429: BURST - LIMIT}, statuses


def test_the_database_fallback_lets_no_burst_through(burst_stack: Stack) -> None:
    """With Redis down (services tier) the database count takes over, just as strictly."""
    if burst_stack.redis_server is not None:
        burst_stack.redis_server.stop()
    statuses = burst(burst_stack, "burst-user-2")
    assert statuses == {202: LIMIT, 429: BURST - LIMIT}, statuses
