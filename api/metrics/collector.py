"""The registry's view of the database: run and webhook figures, read at most every 2 s."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db import Database
from shared.runs.stats import RunStats, read_run_stats
from shared.webhooks.stats import read_deliveries

log = logging.getLogger(__name__)

# Scrapes within this many seconds share one database read, so the open endpoint cannot be
# used to hammer the database; PostgreSQL also stops a slow read at the statement timeout.
SNAPSHOT_TTL_SECONDS = 2.0
QUERY_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Snapshot:
    """One consistent read of the run and webhook figures."""

    runs: RunStats
    deliveries_by_outcome: dict[str, int]


async def read_snapshot(conn: AsyncConnection) -> Snapshot:
    """Both reads in the caller's transaction, bounded by the statement timeout on PostgreSQL."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text(f"SET LOCAL statement_timeout = {int(QUERY_TIMEOUT_SECONDS)}000"))
    return Snapshot(await read_run_stats(conn), await read_deliveries(conn))


@dataclass(eq=False)  # registries key collectors by identity
class RunStatsCollector:
    """Serves the latest database snapshot to the registry; `refresh` reads a new one."""

    database_ok: bool = False
    stats: Snapshot | None = None
    read_at: float = float("-inf")
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def refresh(self, database: Database) -> None:
        async with self.lock:
            if time.monotonic() - self.read_at < SNAPSHOT_TTL_SECONDS:
                return
            try:
                async with asyncio.timeout(QUERY_TIMEOUT_SECONDS):
                    async with database.engine.connect() as conn, conn.begin():
                        self.stats = await read_snapshot(conn)
                self.database_ok = True
            except (SQLAlchemyError, OSError, TimeoutError) as exc:
                log.warning("metrics: database read failed: %s", type(exc).__name__)
                self.stats, self.database_ok = None, False
            self.read_at = time.monotonic()

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "parley_metrics_database_up", "1 if the run figures below could be read from the DB."
        )
        up.add_metric([], 1.0 if self.database_ok else 0.0)
        runs = GaugeMetricFamily(
            "parley_runs", "Runs in the database by status.", labels=["status"]
        )
        wait = HistogramMetricFamily(
            "parley_run_queue_wait_seconds",
            "Time from a run's creation to its start (started_at - created_at).",
            labels=[],
        )
        duration = HistogramMetricFamily(
            "parley_run_duration_seconds",
            "Time from a run's start to its end (finished_at - started_at), by final status.",
            labels=["status"],
        )
        deliveries = CounterMetricFamily(
            "parley_webhook_deliveries",
            "Webhook delivery attempts by outcome (delivered, http_error, timeout, ...).",
            labels=["outcome"],
        )
        if self.stats is not None:
            stats = self.stats.runs
            for status, count in stats.runs_by_status.items():
                runs.add_metric([status], float(count))
            wait.add_metric([], stats.queue_wait.samples(), stats.queue_wait.total)
            for status, hist in stats.duration_by_status.items():
                duration.add_metric([status], hist.samples(), hist.total)
            for outcome, count in self.stats.deliveries_by_outcome.items():
                deliveries.add_metric([outcome], float(count))
        return [up, runs, wait, duration, deliveries]
