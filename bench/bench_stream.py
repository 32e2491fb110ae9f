"""Streaming benchmark: `python -m bench.bench_stream [--tier embedded|services|both] [-n 50]`.

For N sequential turns (a streamed text reply, no tools) it measures, in the same run:

* submit → first delta: from sending POST /v1/runs until the first `message.delta` arrives
  at an SSE client of GET /v1/runs/{id}/events (opened right after the 202);
* the fake LLM's own time to first token, measured directly with the same message (the floor
  no orchestrator can beat);
* first delta written → at the client: the event row's `created_at` (stamped by the worker as
  it writes the first delta, which it does at once) to its arrival at the SSE client, i.e. what
  the event path itself adds (commit, Redis pub/sub or the embedded poller, the SSE write).

The fake LLM runs in a process of its own, so it never shares the client's GIL.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.client import make_client
from bench.infra import build_stack, start_fake_llm, teardown_stack
from bench.stats import Summary

MESSAGE = "[[stream=8,0.01]] bench turn {n}"
WARM_N = 5
TERMINAL = ("run.completed", "run.failed", "run.cancelled")
SAMPLE_TIMEOUT = 60.0


async def direct_ttft(http: httpx.AsyncClient, base_url: str, message: str) -> float:
    """Seconds from sending a streamed chat completion to its first non-empty content chunk."""
    body = {
        "model": "fake-llm",
        "messages": [{"role": "user", "content": message}],
        "stream": True,
    }
    started = time.perf_counter()
    first: float | None = None
    async with http.stream("POST", f"{base_url}/chat/completions", json=body) as response:
        async for line in response.aiter_lines():  # read to the end: the connection is reused
            if first is not None or not line.startswith("data: {"):
                continue
            choices = json.loads(line.removeprefix("data: "))["choices"]
            if choices and choices[0]["delta"].get("content"):
                first = time.perf_counter() - started
    if first is None:
        raise RuntimeError("the fake LLM sent no content")
    return first


async def parley_first_delta(http: httpx.AsyncClient, message: str) -> tuple[float, float, str]:
    """(submit → first delta in s, wall-clock arrival of that delta, run id); reads to the end."""
    started = time.perf_counter()
    response = await http.post("/v1/runs", json={"message": message})
    if response.status_code != 202:
        raise RuntimeError(f"submit answered {response.status_code}: {response.text[:200]}")
    run_id = response.json()["id"]
    first: tuple[float, float] | None = None
    event = ""
    async with http.stream("GET", f"/v1/runs/{run_id}/events") as stream:
        async for line in stream.aiter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "message.delta" and first is None:
                first = (time.perf_counter() - started, time.time())
            elif line.startswith("data: ") and event in TERMINAL:
                break
    if first is None:
        raise RuntimeError(f"run {run_id} streamed no delta (ended with {event})")
    return first[0], first[1], run_id


def first_delta_written(stack: Any, run_ids: list[str]) -> dict[str, float]:
    """When the worker wrote each run's first delta (epoch seconds), from the event log."""
    rows = stack.sql(
        "select run_id, min(created_at) from run_events "
        "where type = 'message.delta' group by run_id"
    )
    written: dict[str, float] = {}
    for run_id, created in rows:
        if run_id in run_ids:
            moment = (
                created if isinstance(created, dt.datetime) else dt.datetime.fromisoformat(created)
            )
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.UTC)
            written[run_id] = moment.timestamp()
    return written


async def measure(stack: Any, llm_url: str, n: int) -> dict[str, Summary]:
    submit_to_delta: list[float] = []
    ttft: list[float] = []
    arrivals: dict[str, float] = {}
    async with make_client(stack.api_url, 4) as parley, httpx.AsyncClient(timeout=30) as direct:
        for i in range(WARM_N):
            await asyncio.wait_for(parley_first_delta(parley, MESSAGE.format(n=f"warm{i}")), 60)
            await direct_ttft(direct, llm_url, MESSAGE.format(n=f"warm{i}"))
        for i in range(n):
            message = MESSAGE.format(n=f"{i}-{uuid.uuid4().hex[:6]}")
            ttft.append(await direct_ttft(direct, llm_url, message))
            took, arrived, run_id = await asyncio.wait_for(
                parley_first_delta(parley, message), SAMPLE_TIMEOUT
            )
            submit_to_delta.append(took)
            arrivals[run_id] = arrived
    written = first_delta_written(stack, list(arrivals))
    fanout = [arrivals[r] - written[r] for r in arrivals if r in written]
    return {
        "submit_to_first_delta": Summary.of(submit_to_delta),
        "llm_ttft_direct": Summary.of(ttft),
        "first_delta_written_to_client": Summary.of(fanout),
    }


def run_tier(tier: str, n: int) -> dict[str, Summary]:
    with tempfile.TemporaryDirectory(prefix=f"bench-stream-{tier}-") as tmp:
        workdir = Path(tmp)
        llm_proc, llm = start_fake_llm(workdir)
        stack = build_stack(tier, workdir, llm)
        try:
            stack.start()
            return asyncio.run(measure(stack, llm.base_url, n))
        finally:
            teardown_stack(stack)
            llm_proc.stop()


def report(tier: str, results: dict[str, Summary]) -> None:
    print(f"\n{tier} tier ({results['submit_to_first_delta'].n} sequential turns)")
    print(f"{'':34} {'p50 ms':>9} {'p99 ms':>9}")
    for name, summary in results.items():
        print(f"{name:34} {summary.p50 * 1000:9.1f} {summary.p99 * 1000:9.1f}")
    overhead = results["submit_to_first_delta"].p50 - results["llm_ttft_direct"].p50
    print(f"{'Parley overhead at p50':34} {overhead * 1000:9.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_stream", description=__doc__)
    parser.add_argument("--tier", choices=["embedded", "services", "both"], default="both")
    parser.add_argument("-n", type=int, default=50, help="measured turns per tier")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    tiers = ["embedded", "services"] if args.tier == "both" else [args.tier]
    figures: dict[str, dict[str, Any]] = {}
    for tier in tiers:
        results = run_tier(tier, args.n)
        report(tier, results)
        figures[tier] = {k: {"n": v.n, "p50": v.p50, "p99": v.p99} for k, v in results.items()}
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
