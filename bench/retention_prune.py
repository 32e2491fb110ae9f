"""Pruning a day's events (worker/events/prune.py) while writers append events: do writes stall?

The writers do what a worker's delta writer does (worker/runs/emitter.py): one transaction per
batch, `store.append` under the run's lease, which bumps the run's counter and inserts the rows.
They write all along; the pruner runs in a process of its own (as beat's task would, on another
worker). Each `prune_events` call (up to 50 batches, what one beat tick does) is followed by a
pause as long as the call, so writes alone and writes beside a prune call alternate all through
the run: a shared machine's load drift hits both sides alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import multiprocessing
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession

from bench.stats import Summary
from shared.config import Settings
from shared.conversations.models import Conversation
from shared.db import Database, utcnow
from shared.events import store
from shared.events.schemas import MESSAGE_DELTA, delta_data
from shared.runs.models import Run
from shared.runs.status import RunStatus
from worker.events.prune import prune_events
from worker.runtime import Runtime

WRITERS = 8
PACE_SECONDS = 0.05  # per writer: 8 writers ≈ 160 write transactions/s, turns streaming at once
DELTAS_PER_WRITE = 5
BASELINE_SECONDS = 10.0  # writers alone, before the pruning and again after it


@dataclass
class Pruned:
    runs: int
    # (start, end) of each prune_events call, time.monotonic(): one clock for every process
    calls: list[tuple[float, float]] = field(default_factory=list)
    transactions_ms: list[float] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        """Time spent pruning (the calls, not the pauses between them)."""
        return sum(end - start for start, end in self.calls)

    def busy(self, moment: float) -> bool:
        return any(start <= moment < end for start, end in self.calls)


@dataclass
class Outcome:
    pruned: Pruned
    quiet: Summary  # writes that started with no prune call running
    during: Summary  # writes that started while one ran

    @property
    def ratio(self) -> float:
        """Writers' p99 beside a prune call over their p99 without one."""
        return self.during.p99 / self.quiet.p99 if self.quiet.p99 else float("nan")


class _TimedDatabase:
    """The pruner's database, timing each of its transactions (each batch is one)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.transactions_ms: list[float] = []

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        started = time.perf_counter()
        async with self.database.transaction() as session:
            yield session
        self.transactions_ms.append((time.perf_counter() - started) * 1000)


@dataclass
class _PruneRuntime:
    """What prune_events reads of the worker's Runtime."""

    settings: Settings
    database: _TimedDatabase


async def _prune_all(url: str, hours: float) -> Pruned:
    """Call the beat task's function until nothing is left to prune (a day's backlog)."""
    database = _TimedDatabase(Database(url, pool_size=1))
    rt = cast(Runtime, _PruneRuntime(Settings(event_retention_hours=hours), database))
    result = Pruned(0)
    while True:
        started = time.monotonic()
        pruned = await prune_events(rt)
        ended = time.monotonic()
        result.calls.append((started, ended))
        result.runs += pruned
        if not pruned:
            break
        await asyncio.sleep(ended - started)
    await database.database.dispose()
    result.transactions_ms = database.transactions_ms
    return result


def _pruner_process(url: str, hours: float, pipe: Connection) -> None:
    pipe.send(asyncio.run(_prune_all(url, hours)))


def _run_pruner(url: str, hours: float) -> Pruned:
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_pruner_process, args=(url, hours, send), daemon=True)
    process.start()
    result = receive.recv()
    process.join(timeout=30)
    assert isinstance(result, Pruned)
    return result


async def _writer_runs(database: Database) -> list[tuple[str, str]]:
    """WRITERS runs in progress, each in a conversation of its own: (run id, lease token)."""
    held = []
    async with database.transaction() as session:
        for n in range(WRITERS):
            conversation = Conversation(user_id="bench-writer", title=f"writer {n}")
            session.add(conversation)
            await session.flush()
            token = f"bench-lease-{n}"
            run = Run(
                user_id="bench-writer",
                conversation_id=conversation.id,
                status=RunStatus.IN_PROGRESS,
                input={"message": "keep writing"},
                lease_token=token,
                lease_until=utcnow() + dt.timedelta(days=1),
                started_at=utcnow(),
            )
            session.add(run)
            await session.flush()
            held.append((run.id, token))
    return held


async def _write(
    database: Database, run_id: str, token: str, stop: asyncio.Event, out: list[tuple[float, float]]
) -> None:
    """The emitter's write, every PACE_SECONDS: (monotonic start, milliseconds) per write."""
    items = [(MESSAGE_DELTA, delta_data("word ")) for _ in range(DELTAS_PER_WRITE)]
    while not stop.is_set():
        started = time.monotonic()
        async with database.transaction() as session:
            written = await store.append(session, run_id, items, holder=token)
        took = time.monotonic() - started
        assert written, f"writer of {run_id} lost its run"
        out.append((started, took * 1000))
        await asyncio.sleep(max(0.0, PACE_SECONDS - took))


async def measure(url: str, hours: float) -> Outcome:
    """Writers all along; before, between and after the prune calls they write alone."""
    database = Database(url, pool_size=WRITERS + 2)
    try:
        held = await _writer_runs(database)
        stop = asyncio.Event()
        samples: list[tuple[float, float]] = []
        writers = [asyncio.create_task(_write(database, r, t, stop, samples)) for r, t in held]
        await asyncio.sleep(BASELINE_SECONDS)
        pruned = await asyncio.to_thread(_run_pruner, url, hours)
        await asyncio.sleep(BASELINE_SECONDS)
        stop.set()
        await asyncio.gather(*writers)
    finally:
        await database.dispose()
    return Outcome(
        pruned,
        Summary.of([ms for at, ms in samples if not pruned.busy(at)]),
        Summary.of([ms for at, ms in samples if pruned.busy(at)]),
    )
