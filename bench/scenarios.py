"""The figures of issue 2, each measured for Parley and for its same-run in-process baseline.

Every loop is bounded: by a sample count, by a duration, or by a per-turn timeout. Besides wall
time, each phase records the CPU time the measured processes used (Parley's API and worker from
/proc; the in-process baseline from this process), which a shared machine disturbs far less.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import httpx

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
class Turns:
    """Parley turns as clients saw them: the good ones, and what went wrong with the rest."""

    samples: list[TurnSample] = field(default_factory=list)  # completed as expected
    failures: Counter[str] = field(default_factory=Counter)
    tally: Tally = field(default_factory=Tally)  # HTTP trouble, ridden out or not

    async def run(self, http: httpx.AsyncClient, message: str, timeout: float) -> bool:
        """One turn; True when it completed as expected."""
        try:
            sample = await turn(http, message, timeout, self.tally)
        except TurnError as exc:
            self.failures[exc.kind] += 1
            return False
        if not sample.ok:
            self.failures[sample.outcome] += 1
            return False
        self.samples.append(sample)
        return True

    @property
    def failed(self) -> int:
        return sum(self.failures.values())


@dataclass
class Sequential:
    """Sequential turns: per-turn seconds, CPU used by the measured turns, Parley's samples.

    Filled in rounds (interleaved with the baselines'), so each round adds to it.
    """

    durations: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    turns: Turns = field(default_factory=Turns)

    def add_cpu(self, used: Mapping[str, float]) -> None:
        for name, seconds in used.items():
            self.cpu[name] = self.cpu.get(name, 0.0) + seconds


@dataclass(frozen=True)
class Throughput:
    """Turns that completed while `clients` clients looped for about `duration` seconds."""

    clients: int
    completed: int
    elapsed: float
    cpu: dict[str, float] = field(default_factory=dict)
    turns: Turns = field(default_factory=Turns)

    @property
    def per_second(self) -> float:
        return self.completed / self.elapsed if self.elapsed > 0 else 0.0

    def __add__(self, other: Throughput) -> Throughput:
        """Two stretches of the same load as one (counts, time and CPU summed)."""
        cpu = {k: self.cpu.get(k, 0.0) + other.cpu.get(k, 0.0) for k in {*self.cpu, *other.cpu}}
        turns = Turns(
            [*self.turns.samples, *other.turns.samples],
            self.turns.failures + other.turns.failures,
            Tally(self.turns.tally.counts + other.turns.tally.counts),
        )
        return Throughput(
            self.clients, self.completed + other.completed, self.elapsed + other.elapsed, cpu, turns
        )


@dataclass(frozen=True)
class Burst:
    """N turns submitted at once: wall time until every one was seen terminal."""

    size: int
    completed: int
    wall: float
    submit_phase: float = 0.0  # until the last 202 arrived (Parley only)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds during the burst
    idle_rss: int = 0  # worker before the burst (bytes; Parley only)
    peak_rss: int = 0  # worker during the burst, sampled every 100 ms (bytes; Parley only)
    rss_samples: int = 0
    pg_peak: tuple[int, int, int] | None = None  # connections: Parley's db, server, limit
    turns: Turns = field(default_factory=Turns)

    @property
    def server_span(self) -> float:
        """First created_at → last finished_at over the completed turns (s)."""
        samples = self.turns.samples
        if not samples:
            return 0.0
        first = min(s.server_time("created_at") for s in samples)
        return max(s.server_time("finished_at") for s in samples) - first


# --- sequential latency ------------------------------------------------------------------


async def parley_warmup(http: httpx.AsyncClient, turns: int, timeout: float) -> None:
    """Turns run and forgotten (connections, caches and pools warm up)."""
    for _ in range(turns):
        await Turns().run(http, MESSAGE, timeout)


async def parley_sequential(
    http: httpx.AsyncClient, samples: int, timeout: float, pids: Mapping[str, int], into: Sequential
) -> None:
    """Submit → terminal status seen by a long-poll, one turn after another; adds to `into`."""
    meter = CpuMeter(pids)
    meter.start()
    for _ in range(samples):
        await into.turns.run(http, MESSAGE, timeout)
    into.add_cpu(meter.stop())
    into.durations = [s.total for s in into.turns.samples]


async def inprocess_sequential(agent: InProcessAgent, samples: int, into: Sequential) -> None:
    """The agent loop called directly, one turn after another; adds to `into`."""
    meter = CpuMeter(None)
    meter.start()
    for _ in range(samples):
        seconds, _answer = await agent.timed(MESSAGE)
        into.durations.append(seconds)
    into.add_cpu(meter.stop())


# --- throughput --------------------------------------------------------------------------


async def _looping(
    clients: int,
    duration: float,
    one_turn: Callable[[int], Awaitable[bool]],
    meter: CpuMeter,
    turns: Turns,
) -> Throughput:
    """`clients` loops each running turns back to back until `duration` has passed."""
    stop_at = time.monotonic() + duration

    async def client(index: int) -> int:
        completed = 0
        while time.monotonic() < stop_at:
            completed += await one_turn(index)
        return completed

    meter.start()
    started = time.monotonic()
    counts = await asyncio.gather(*(client(i) for i in range(clients)))
    elapsed = time.monotonic() - started
    return Throughput(clients, sum(counts), elapsed, meter.stop(), turns)


async def parley_throughput(
    base_url: str, clients: int, duration: float, timeout: float, pids: Mapping[str, int]
) -> Throughput:
    """Concurrent clients (one user each) looping submit + long-poll."""
    https = [make_client(base_url, 2) for _ in range(clients)]
    turns = Turns()

    async def one_turn(index: int) -> bool:
        return await turns.run(https[index], MESSAGE, timeout)

    try:
        return await _looping(clients, duration, one_turn, CpuMeter(pids), turns)
    finally:
        await asyncio.gather(*(h.aclose() for h in https))


async def inprocess_throughput(agent: InProcessAgent, clients: int, duration: float) -> Throughput:
    """Concurrent coroutines looping the agent loop (each turn's fixture rows included)."""

    async def one_turn(_index: int) -> bool:
        await agent.timed(MESSAGE)
        return True

    return await _looping(clients, duration, one_turn, CpuMeter(None), Turns())


# --- burst -------------------------------------------------------------------------------


def _connection_sampler(pg: ConnectionProbe) -> PeakSampler:
    def count() -> list[int]:
        now = pg.count()
        return [now.database, now.server]

    return PeakSampler(count, "pg-connections")


async def parley_burst(
    base_url: str,
    size: int,
    llm_seconds: float,
    pids: Mapping[str, int],
    timeout: float,
    pg: ConnectionProbe | None = None,
) -> Burst:
    """`size` turns submitted at once (each LLM call takes `llm_seconds`), worker RSS sampled."""
    message = f"{MESSAGE} [[latency={llm_seconds:g}]]"
    worker = pids["worker"]
    turns = Turns()
    meter = CpuMeter(pids)
    idle = tree_rss(worker)
    rss = PeakSampler(lambda: [tree_rss(worker)], "peak-rss").start()
    connections = _connection_sampler(pg).start() if pg is not None else None
    pg_peak = None
    try:
        async with make_client(base_url, size + 10) as http:
            meter.start()
            started = time.perf_counter()
            await asyncio.gather(*(turns.run(http, message, timeout) for _ in range(size)))
            wall = time.perf_counter() - started
            cpu = meter.stop()
    finally:
        (peak,) = rss.stop()
        if connections is not None and pg is not None:
            database, server = connections.stop()
            pg_peak = (database, server, pg.limit)
    samples = turns.samples
    first_sent = min((s.sent_at for s in samples), default=0.0)
    submit_phase = max((s.sent_at + s.post for s in samples), default=first_sent) - first_sent
    return Burst(
        size,
        len(samples),
        wall,
        submit_phase=submit_phase,
        cpu=cpu,
        idle_rss=idle,
        peak_rss=peak,
        rss_samples=rss.samples,
        pg_peak=pg_peak,
        turns=turns,
    )


async def inprocess_burst(agent: InProcessAgent, size: int, llm_seconds: float) -> Burst:
    """`size` agent-loop turns started at once in this process (fixture rows made first)."""
    message = f"{MESSAGE} [[latency={llm_seconds:g}]]"
    prepared = [await agent.prepare(message) for _ in range(size)]
    meter = CpuMeter(None)
    meter.start()
    started = time.perf_counter()
    answers = await asyncio.gather(*(agent.run(t) for t in prepared), return_exceptions=True)
    wall = time.perf_counter() - started
    turns = Turns()
    for answer in answers:
        if isinstance(answer, BaseException):
            turns.failures[type(answer).__name__] += 1
    return Burst(size, size - turns.failed, wall, cpu=meter.stop(), turns=turns)
