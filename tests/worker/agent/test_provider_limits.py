"""Limits toward the LLM provider shared by all worker processes (LLM_MAX_CONCURRENCY,
LLM_REQUESTS_PER_MINUTE, a 429's Retry-After), on Redis (services) or the database (embedded).

Two worker processes share one stack; the fake LLM notes when each call arrives, so the test
sees the spacing the provider would see. Runs still complete, and their events say they waited.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from typing import Any

from fakellm import FakeLLM
from tests.stack import Api, Stack
from tests.worker.conftest import StackFactory

INTERVAL = 0.5  # LLM_REQUESTS_PER_MINUTE=120
CALL_SECONDS = 0.8  # longer than the interval: with one slot, calls follow each other
SLACK = 0.08  # clocks of two processes and the fake's request parsing
LAG = 0.25  # how late a call may leave after its turn in the rate on a busy 2-core machine


def arrivals(llm: FakeLLM, tag: str) -> list[float]:
    """When the calls whose user message carries `tag` reached the fake LLM, in order."""
    found = []
    for body, at in zip(list(llm.requests), list(llm.request_times), strict=True):
        users = [m for m in body.get("messages", []) if m.get("role") == "user"]
        if users and tag in str(users[-1].get("content")):
            found.append(at)
    return sorted(found)


def waits(stack: Stack, run_id: str) -> list[dict[str, Any]]:
    rows = stack.sql(
        "select data from run_events where run_id = :id and type = 'run.waiting' order by seq",
        id=run_id,
    )
    return [json.loads(d) if isinstance(d, str) else dict(d) for (d,) in rows]


def submit_all(api: Api, messages: list[str]) -> list[dict[str, Any]]:
    runs = [api.submit(m) for m in messages]
    final = [api.wait(r["id"], 60) for r in runs]
    assert [r["status"] for r in final] == ["completed"] * len(runs), final
    return final


def test_calls_are_spread_over_all_workers_and_a_429_pauses_every_one(
    private_stack: StackFactory, llm: FakeLLM
) -> None:
    stack = private_stack(
        extra_env={"LLM_MAX_CONCURRENCY": "1", "LLM_REQUESTS_PER_MINUTE": str(60 / INTERVAL)}
    )
    stack.start_worker("worker2")
    api = stack.client()

    # One call in flight across both processes: each call starts after the previous ended.
    tag = f"slot-{uuid.uuid4().hex[:6]}"
    final = submit_all(
        api, [f"Add a task to {tag} {i} [[latency={CALL_SECONDS}]]" for i in range(3)]
    )
    times = arrivals(llm, tag)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    print(f"\n[provider] one slot: {len(times)} calls, gaps {[round(g, 2) for g in gaps]}")
    assert len(times) == 6
    assert min(gaps) >= CALL_SECONDS - SLACK, gaps
    reasons = {w["reason"] for r in final for w in waits(stack, r["id"])}
    assert "max_concurrency" in reasons, reasons

    # Quick calls: the request rate spaces them INTERVAL apart.
    tag = f"rate-{uuid.uuid4().hex[:6]}"
    final = submit_all(api, [f"Add a task to {tag} {i}" for i in range(3)])
    times = arrivals(llm, tag)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    print(f"[provider] {60 / INTERVAL:g}/min: gaps {[round(g, 2) for g in gaps]}")
    assert len(times) == 6
    # Call k's turn comes k intervals after the first's; a busy machine may send a call late
    # (never early), so any two calls i < j lie at least (j - i) intervals apart, less that lag.
    for i, j in itertools.combinations(range(len(times)), 2):
        assert times[j] - times[i] >= (j - i) * INTERVAL - LAG, (i, j, gaps)
    rate_waits = [w for r in final for w in waits(stack, r["id"])]
    assert any(w["reason"] == "requests_per_minute" and w["retry_after"] > 0 for w in rate_waits)


def test_a_429_retry_after_holds_every_worker_and_no_run_fails(
    private_stack: StackFactory, llm: FakeLLM
) -> None:
    # A configured limit puts the clocks in the shared store in embedded mode too (without one,
    # and without Redis, the pause after a 429 stays in the process that got it).
    stack = private_stack(extra_env={"LLM_REQUESTS_PER_MINUTE": "6000"})
    stack.start_worker("worker2")
    api = stack.client()
    tag = f"limited-{uuid.uuid4().hex[:6]}"
    # The first run's first call is refused with Retry-After: 2; the others come right after.
    first = api.submit(f"Add a task to {tag} first [[error_times=1,429]] [[retry_after=2]]")
    deadline = time.monotonic() + 30
    while not arrivals(llm, f"{tag} first"):
        assert time.monotonic() < deadline, "the first call never reached the provider"
        time.sleep(0.02)
    refused_at = arrivals(llm, f"{tag} first")[0]
    time.sleep(0.2)  # the 429 has been answered and the pause recorded
    others = [api.submit(f"Add a task to {tag} other {i}") for i in range(3)]
    final = [api.wait(r["id"], 60) for r in [first, *others]]
    assert [r["status"] for r in final] == ["completed"] * 4, final

    later = [t for t in arrivals(llm, tag) if t > refused_at]
    print(f"\n[provider] 429 at 0; later calls at {[round(t - refused_at, 2) for t in later]}")
    assert len(later) == 8  # 4 turns of two calls after the refused one
    # Nobody called the provider during the 2 s it asked for.
    assert min(later) >= refused_at + 2 - SLACK, later
    told = {r["id"]: waits(stack, r["id"]) for r in final}
    assert all(told.values()), told  # every run said it was waiting on the provider
    for notices in told.values():
        assert notices[0]["reason"] == "provider_rate_limited", notices
        assert 0 < notices[0]["retry_after"] <= 2, notices
