"""SIGTERM on a worker during 20 slow turns: every turn completes once, none waits for a lease."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fakellm import FakeLLM
from tests.conftest import TIERS, running_stack
from tests.stack import Stack

LEASE = 30  # a handed-back turn that waited for its lease would take at least this long
GRACE = 10


@pytest.fixture(params=TIERS)
def drain_stack(request: pytest.FixtureRequest, llm: FakeLLM, tmp_path: Path) -> Iterator[Stack]:
    env = {
        "RUN_LEASE_SECONDS": str(LEASE),
        "RUN_REDISPATCH_SECONDS": str(LEASE),
        "WORKER_SHUTDOWN_GRACE_SECONDS": str(GRACE),
        # The turns' wall clock keeps running while they wait for the replacement worker.
        "RUN_TIMEOUT_SECONDS": "300",
    }
    with running_stack(request, str(request.param), tmp_path, llm, extra_env=env) as s:
        yield s


def _wait_until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_sigterm_finishes_quick_turns_and_hands_back_slow_ones(drain_stack: Stack) -> None:
    api = drain_stack.client()
    tag = uuid.uuid4().hex[:6]  # the fake slows each distinct message once: fresh per run
    # Ten turns add their task and then wait on a slow second model call: they are handed back
    # after their side effect happened. Ten more are in their (shorter) first call at the
    # SIGTERM: they finish inside the grace.
    slow = [
        api.submit(f"Add a task to slow {tag} {i} [[latency_after_tool=30,1]]") for i in range(10)
    ]

    def slow_tools_done() -> bool:
        return _completed_tool_calls(drain_stack, [r["id"] for r in slow]) == len(slow)

    _wait_until(slow_tools_done, 60, "the slow turns never ran their tool")
    quick = [api.submit(f"Add a task to quick {tag} {i} [[latency=3]]") for i in range(10)]

    def quick_running() -> bool:
        return _statuses(drain_stack, [r["id"] for r in quick]) == ["in_progress"] * 10

    _wait_until(quick_running, 30, "the quick turns never started")
    runs = quick + slow

    stopped = time.monotonic()
    drain_stack.kill("worker", signal.SIGTERM)
    stop_took = time.monotonic() - stopped
    assert stop_took < GRACE + 10, f"the worker took {stop_took:.1f} s to stop"
    assert _statuses(drain_stack, [r["id"] for r in quick]) == ["completed"] * 10
    assert "completed" not in _statuses(drain_stack, [r["id"] for r in slow])

    # The slow turns' second call is fast this time: the directive applies once per turn.
    started = time.monotonic()
    drain_stack.start_worker("replacement")
    for run in runs:
        ended = api.wait(run["id"], seconds=60)
        assert ended["status"] == "completed", ended["error"]
    took = time.monotonic() - started
    assert took < LEASE / 2, f"handed-back turns took {took:.1f} s: they waited for a lease"

    for run in runs:
        messages = api.messages(run["conversation_id"])
        assert [m["role"] for m in messages] == ["user", "assistant"], messages
    titles = [
        row[0]
        for row in drain_stack.sql("SELECT title FROM tasks WHERE user_id = :user", user=api.user)
    ]
    expected = [f"{kind} {tag} {i}" for kind in ("quick", "slow") for i in range(10)]
    assert sorted(titles) == sorted(expected), "a task was added twice or not at all"
    calls = drain_stack.sql(
        "SELECT run_id, count(*) FROM tool_calls GROUP BY run_id HAVING count(*) > 1"
    )
    assert calls == [], "a tool call was recorded twice"
    api.close()


def _statuses(stack: Stack, run_ids: list[str]) -> list[str]:
    by_id = {
        row[0]: row[1] for row in stack.sql("SELECT id, status FROM runs") if row[0] in run_ids
    }
    return [by_id[i] for i in run_ids]


def _completed_tool_calls(stack: Stack, run_ids: list[str]) -> int:
    rows = stack.sql("SELECT run_id FROM tool_calls WHERE status = 'completed'")
    return sum(1 for row in rows if row[0] in run_ids)
