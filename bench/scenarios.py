"""The figures of issue 2, each measured for Parley and for its same-run in-process baseline.

Every loop is bounded: by a sample count, by a duration, or by a per-turn timeout. Besides wall
time, each phase records the CPU time the measured processes used (Parley's API and worker from
/proc; the in-process baseline from this process), which a shared machine disturbs far less.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from bench.client import Tally, TurnError, TurnSample, make_client, turn
from bench.inprocess import InProcessAgent
from bench.pgstat import ConnectionProbe
from bench.procstat import PeakSampler, tree_cpu, tree_rss

MESSAGE = "Add a task to buy milk"  # two model calls: add_task, then the reply
INPROCESS = "in-process"


class CpuMeter:
    """CPU seconds used by named processes (or by this one) between start() and stop()."""

    def __init__(self, pids: Mapping[str, int] | None) -> None:
        self.pids = dict(pids or {})
        self._start: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        if not self.pids:
            return {INPROCESS: time.process_time()}
        return {name: tree_cpu([pid]) for name, pid in self.pids.items()}

    def start(self) -> None:
        self._start = self._now()

    def stop(self) -> dict[str, float]:
        end = self._now()
        return {name: end[name] - self._start[name] for name in end}


@dataclass
class Sequential:
    """Sequential turns: per-turn seconds, the Parley samples, CPU used by the measured turns."""

    durations: list[float] = field(default_factory=list)
    samples: list[TurnSample] = field(default_factory=list)
    failed: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    tally: Tally = field(default_factory=Tally)


@dataclass(frozen=True)
class Throughput:
    """Turns that completed while `clients` clients looped for about `duration` seconds."""

    clients: int
    completed: int
    failed: int
    elapsed: float
    cpu: dict[str, float] = field(default_factory=dict)
    tally: Tally = field(default_factory=Tally)

    @property
    def per_second(self) -> float:
        return self.completed / self.elapsed if self.elapsed > 0 else 0.0


@dataclass(frozen=True)
class Burst:
    """N turns submitted at once: wall time until every one was seen terminal."""

    turns: int
    completed: int
    wall: float
    submit_phase: float = 0.0  # until the last 202 arrived (Parley only)
    server_span: float = 0.0  # first created_at → last finished_at (Parley only)
    idle_rss: int = 0  # worker before the burst (bytes; Parley only)
    peak_rss: int = 0  # worker during the burst, sampled every 100 ms (bytes; Parley only)
    rss_samples: int = 0
    queue_waits: list[float] = field(default_factory=list)  # created → started, per turn (s)
    executions: list[float] = field(default_factory=list)  # started → finished, per turn (s)
    pg_peak: tuple[int, int, int] | None = None  # connections: Parley's db, server, limit
    tally: Tally = field(default_factory=Tally)


# --- sequential latency ------------------------------------------------------------------


async def parley_sequential(
    base_url: str, samples: int, warmup: int, timeout: float, pids: Mapping[str, int]
) -> Sequential:
    """Submit → terminal status seen by a long-poll, one turn after another."""
    result = Sequential()
    meter = CpuMeter(pids)
    async with make_client(base_url, 4) as http:
        for _ in range(warmup):
            try:
                await turn(http, MESSAGE, timeout)
            except TurnError:
                pass
        meter.start()
        for _ in range(samples):
            try:
                sample = await turn(http, MESSAGE, timeout, result.tally)
            except TurnError:
                result.failed += 1
                continue
            if sample.ok:
                result.durations.append(sample.total)
                result.samples.append(sample)
            else:
                result.failed += 1
        result.cpu = meter.stop()
    return result


async def inprocess_sequential(agent: InProcessAgent, samples: int, warmup: int) -> Sequential:
    """The agent loop called directly, one turn after another."""
    result = Sequential()
    for _ in range(warmup):
        await agent.timed(MESSAGE)
    meter = CpuMeter(None)
    meter.start()
    for _ in range(samples):
        seconds, _answer = await agent.timed(MESSAGE)
        result.durations.append(seconds)
    result.cpu = meter.stop()
    return result


# --- throughput --------------------------------------------------------------------------


async def _looping(
    clients: int,
    duration: float,
    one_turn: Callable[[int], Awaitable[bool]],
    meter: CpuMeter,
    tally: Tally,
) -> Throughput:
    """`clients` loops each running turns back to back until `duration` has passed."""
    stop_at = time.monotonic() + duration

    async def client(index: int) -> tuple[int, int]:
        completed = failed = 0
        while time.monotonic() < stop_at:
            if await one_turn(index):
                completed += 1
            else:
                failed += 1
        return completed, failed

    meter.start()
    started = time.monotonic()
    counts = await asyncio.gather(*(client(i) for i in range(clients)))
    elapsed = time.monotonic() - started
    return Throughput(
        clients,
        sum(c for c, _ in counts),
        sum(f for _, f in counts),
        elapsed,
        meter.stop(),
        tally,
    )


async def parley_throughput(
    base_url: str, clients: int, duration: float, timeout: float, pids: Mapping[str, int]
) -> Throughput:
    """Concurrent clients (one user each) looping submit + long-poll."""
    https = [make_client(base_url, 2) for _ in range(clients)]
    tally = Tally()

    async def one_turn(index: int) -> bool:
        try:
            return (await turn(https[index], MESSAGE, timeout, tally)).ok
        except TurnError:
            return False

    try:
        return await _looping(clients, duration, one_turn, CpuMeter(pids), tally)
    finally:
        await asyncio.gather(*(h.aclose() for h in https))


async def inprocess_throughput(agent: InProcessAgent, clients: int, duration: float) -> Throughput:
    """Concurrent coroutines looping the agent loop (each turn's fixture rows included)."""

    async def one_turn(_index: int) -> bool:
        await agent.timed(MESSAGE)
        return True

    return await _looping(clients, duration, one_turn, CpuMeter(None), Tally())


# --- burst -------------------------------------------------------------------------------


async def parley_burst(
    base_url: str,
    turns: int,
    llm_seconds: float,
    worker_pid: int,
    timeout: float,
    pg: ConnectionProbe | None = None,
) -> Burst:
    """`turns` turns submitted at once (each LLM call takes `llm_seconds`), worker RSS sampled."""
    message = f"{MESSAGE} [[latency={llm_seconds:g}]]"
    tally = Tally()
    idle = tree_rss(worker_pid)
    rss = PeakSampler(lambda: [tree_rss(worker_pid)], "peak-rss").start()
    connections: PeakSampler | None = None
    if pg is not None:
        probe = pg

        def count() -> list[int]:
            now = probe.count()
            return [now.database, now.server]

        connections = PeakSampler(count, "pg-connections").start()
    try:
        async with make_client(base_url, turns + 10) as http:
            started = time.perf_counter()
            outcomes = await asyncio.gather(
                *(turn(http, message, timeout, tally) for _ in range(turns)),
                return_exceptions=True,
            )
            wall = time.perf_counter() - started
    finally:
        (peak,) = rss.stop()
        pg_peak = None
        if connections is not None and pg is not None:
            database, server = connections.stop()
            pg_peak = (database, server, pg.limit)
    unexpected = [o for o in outcomes if isinstance(o, BaseException)]
    unexpected = [o for o in unexpected if not isinstance(o, TurnError)]
    if unexpected:
        raise unexpected[0]
    done = [o for o in outcomes if isinstance(o, TurnSample)]
    first_sent = min((s.sent_at for s in done), default=0.0)
    submit_phase = max((s.sent_at + s.post for s in done), default=first_sent) - first_sent
    span = 0.0
    if done:
        span = max(s.server_time("finished_at") for s in done) - min(
            s.server_time("created_at") for s in done
        )
    return Burst(
        turns,
        sum(1 for s in done if s.ok),
        wall,
        submit_phase=submit_phase,
        server_span=span,
        idle_rss=idle,
        peak_rss=peak,
        rss_samples=rss.samples,
        queue_waits=[s.server_time("started_at") - s.server_time("created_at") for s in done],
        executions=[s.server_time("finished_at") - s.server_time("started_at") for s in done],
        pg_peak=pg_peak,
        tally=tally,
    )


async def inprocess_burst(agent: InProcessAgent, turns: int, llm_seconds: float) -> Burst:
    """`turns` agent-loop turns started at once in this process (fixture rows made first)."""
    message = f"{MESSAGE} [[latency={llm_seconds:g}]]"
    prepared = [await agent.prepare(message) for _ in range(turns)]
    started = time.perf_counter()
    answers = await asyncio.gather(*(agent.run(t) for t in prepared), return_exceptions=True)
    wall = time.perf_counter() - started
    return Burst(turns, sum(1 for a in answers if isinstance(a, str)), wall)
