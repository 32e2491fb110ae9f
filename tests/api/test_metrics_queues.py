"""GET /metrics reads each broker queue's depth (api.metrics.queues), on the real broker of the
tier, and still answers when the broker is down."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fakellm import FakeLLM
from tests.conftest import TIERS, running_stack
from tests.prometheus import Samples, scrape, value
from tests.stack import Stack


@pytest.fixture(params=TIERS)
def stack(request: pytest.FixtureRequest, llm: FakeLLM, tmp_path: Path) -> Iterator[Stack]:
    """A stack of its own: this test stops its worker and beat (and, on Redis, the broker)."""
    with running_stack(request, str(request.param), tmp_path, llm) as s:
        yield s


def _until(stack: Stack, done: Callable[[Samples], bool], seconds: float = 30) -> Samples:
    """Scrape the API until `done(samples)` holds (a read is shared for two seconds)."""
    deadline = time.monotonic() + seconds
    while True:
        _, samples = scrape(f"{stack.api_url}/metrics")
        if done(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.3)


def test_queue_depth_counts_the_turns_no_worker_has_taken(stack: Stack) -> None:
    # No worker consumes and no beat sends sweeps: only the API's dispatches reach the queue.
    stack.kill("worker", signal.SIGTERM)
    stack.kill("beat", signal.SIGTERM)
    empty = _until(stack, lambda s: value(s, "parley_queue_depth", queue="runs") == 0)
    assert value(empty, "parley_metrics_broker_up") == 1
    assert ("parley_queue_depth", (("queue", "webhooks"),)) in empty

    api = stack.client()
    runs = [api.submit(f"Add a task number {n}")["id"] for n in range(3)]  # 3 conversations
    waiting = _until(stack, lambda s: value(s, "parley_queue_depth", queue="runs") == 3)
    assert value(waiting, "parley_queue_depth", queue="runs") == 3

    stack.start_worker()  # takes them: the queue drains
    for run_id in runs:
        assert api.wait(run_id)["status"] == "completed"
    drained = _until(stack, lambda s: value(s, "parley_queue_depth", queue="runs") == 0)
    assert value(drained, "parley_queue_depth", queue="runs") == 0
    api.close()

    if stack.tier != "services" or stack.redis_server is None:
        return  # the broker we can stop here is the services tier's private Redis
    stack.redis_server.stop()
    down = _until(stack, lambda s: value(s, "parley_metrics_broker_up") == 0)
    assert value(down, "parley_metrics_broker_up") == 0
    assert not [key for key in down if key[0] == "parley_queue_depth"]
    assert value(down, "parley_metrics_database_up") == 1  # the rest of the scrape still serves
