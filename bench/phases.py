"""The measuring phases of one tier, in order, each Parley figure beside its baseline."""

from __future__ import annotations

import asyncio
import logging

from celery import Celery

from bench import floor, scenarios, sqlphases
from bench.client import make_client
from bench.infra import BenchStack
from bench.inprocess import InProcessAgent
from bench.pgstat import ConnectionProbe
from bench.report import Sizes, TierResult

log = logging.getLogger("bench")

INPROC_POOL = 10  # the baseline's connection pool (PostgreSQL allows 100 by default)
SETUP_SAMPLES = 50  # builds of the todo MCP server, sessions opened on it
LATENCY_ROUNDS = 10  # interleaved rounds of floor, in-process and Parley turns
TURN_TIMEOUT = 60.0  # a sequential or looping turn
BURST_TIMEOUT = 180.0  # every turn of the burst


async def measure_latency(
    stack: BenchStack,
    sizes: Sizes,
    result: TierResult,
    agent: InProcessAgent,
    app: Celery,
    pids: dict[str, int],
) -> None:
    """Floor, in-process and Parley latency in interleaved rounds, so load drifts hit all three."""
    async with make_client(stack.api_url, 4) as http:
        await asyncio.to_thread(floor.measure, app, 0, sizes.warmup)
        for _ in range(sizes.warmup):
            await agent.timed(scenarios.MESSAGE)
        await scenarios.parley_warmup(http, sizes.warmup, TURN_TIMEOUT)
        for n in _rounds(sizes.turns, LATENCY_ROUNDS):
            result.floor += await asyncio.to_thread(floor.measure, app, n, 0)
            await scenarios.inprocess_sequential(agent, n, result.inproc_seq)
            await scenarios.parley_sequential(http, n, TURN_TIMEOUT, pids, result.parley_seq)


async def measure_throughput(
    stack: BenchStack, sizes: Sizes, result: TierResult, agent: InProcessAgent, pids: dict[str, int]
) -> None:
    """In-process, Parley, Parley, in-process (half the duration each): drift cancels out."""
    half = sizes.duration / 2
    url, clients = stack.api_url, sizes.clients
    inproc = await scenarios.inprocess_throughput(agent, clients, half)
    parley = await scenarios.parley_throughput(url, clients, half, TURN_TIMEOUT, pids)
    parley += await scenarios.parley_throughput(url, clients, half, TURN_TIMEOUT, pids)
    inproc += await scenarios.inprocess_throughput(agent, clients, half)
    result.inproc_tp, result.parley_tp = inproc, parley


async def measure_turns(stack: BenchStack, sizes: Sizes, result: TierResult) -> None:
    """Setup costs, latency, throughput and the burst, each with its same-run baseline."""
    tier = stack.tier
    pids = {name: stack.pid(name) for name in ("api", "worker")}
    agent = InProcessAgent(stack.database_url, stack.llm.base_url, pool_size=INPROC_POOL)
    try:
        log.info("%s: per-turn setup costs", tier)
        result.server_builds, result.sessions = await agent.setup_costs(SETUP_SAMPLES)
        log.info("%s: latency, %d turns each of floor, in-process, Parley", tier, sizes.turns)
        with floor.running(
            tier, stack.database_url, stack.redis_url, stack.env, stack.workdir
        ) as app:
            await measure_latency(stack, sizes, result, agent, app, pids)
        log.info("%s: throughput, %d clients, in-process and Parley", tier, sizes.clients)
        await measure_throughput(stack, sizes, result, agent, pids)
        log.info("%s: in-process burst (%d turns)", tier, sizes.burst)
        result.inproc_burst = await scenarios.inprocess_burst(agent, sizes.burst, sizes.llm_seconds)
    finally:
        # Its pooled connections would count against PostgreSQL's limit during Parley's burst.
        await agent.close()
    log.info("%s: SQL per turn", tier)
    result.sql = await asyncio.to_thread(sqlphases.measure, stack)
    log.info("%s: Parley burst (%d turns)", tier, sizes.burst)
    probe = ConnectionProbe(stack.database_url) if tier == "services" else None
    try:
        result.parley_burst = await scenarios.parley_burst(
            stack.api_url, sizes.burst, sizes.llm_seconds, pids, BURST_TIMEOUT, probe
        )
    finally:
        if probe is not None:
            probe.close()
    log.info("%s: throughput with a second worker process", tier)
    stack.start_worker("worker2")
    both = {**pids, "worker": stack.pid("worker"), "worker2": stack.pid("worker2")}
    half = sizes.duration / 2
    result.parley_tp2 = await scenarios.parley_throughput(
        stack.api_url, sizes.clients, half, TURN_TIMEOUT, both
    )
    result.parley_tp2 += await scenarios.parley_throughput(
        stack.api_url, sizes.clients, half, TURN_TIMEOUT, both
    )


def _rounds(total: int, rounds: int) -> list[int]:
    """`total` split into at most `rounds` near-equal positive parts."""
    rounds = max(1, min(rounds, total))
    return [total // rounds + (1 if i < total % rounds else 0) for i in range(rounds)]
