"""Prometheus metrics: request figures of this process, run figures read from the database.

Request counts and latencies live in this process and are labelled by route template, never
by raw path, so ids cannot blow up the label set. Run and webhook figures span processes (the
API does not see what workers do), so they are computed at scrape time with aggregate SQL and
exposed through a custom collector. No label carries user data.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from sqlalchemy import ColumnElement, Float, Subquery, cast, extract, func, inspect, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.security import metrics_access
from shared.db import Database
from shared.runs import states
from shared.runs.models import Run

log = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])

REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
RUN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"
# Scrapes within this many seconds share one database read, so the open endpoint cannot be
# used to hammer the database; PostgreSQL also stops a slow read at the statement timeout.
SNAPSHOT_TTL_SECONDS = 2.0
QUERY_TIMEOUT_SECONDS = 5.0
DELIVERIES_TABLE = "webhook_deliveries"
# The attempt outcomes the webhook outbox records (shared/webhooks/outbox.py OUTCOMES), listed
# here so each series exists (at 0) before the first delivery, even before that table does.
DELIVERY_OUTCOMES = (
    "delivered",
    "gone",
    "http_error",
    "timeout",
    "connection_error",
    "refused",
    "worker_lost",
)
MAX_OUTCOMES = 32  # a bound on the label set, whatever the table holds


class HttpMetrics:
    """Request counts and latencies of this API process."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "parley_http_requests",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "parley_http_request_duration_seconds",
            "Time to answer an HTTP request (until its body is sent), by route template.",
            ["method", "route"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in KNOWN_METHODS else "other"
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)


class MetricsMiddleware:
    """Counts and times every HTTP request under its route template (`/v1/runs/{run_id}`)."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_recording_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_recording_status)
        finally:
            self.metrics.observe(
                scope["method"], route_template(scope), status, time.perf_counter() - started
            )


def route_template(scope: Scope) -> str:
    """The matched route's path template; one label for everything that matched nothing."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) and template else UNMATCHED_ROUTE


@dataclass(frozen=True)
class HistogramData:
    """Cumulative bucket counts (one per RUN_BUCKETS bound), the total count and the sum."""

    buckets: tuple[int, ...]
    count: int
    total: float

    def samples(self) -> list[tuple[str, float]]:
        bounds = (str(float(b)) for b in RUN_BUCKETS)  # "0.05", "1.0": as prometheus_client
        pairs = [(le, float(n)) for le, n in zip(bounds, self.buckets, strict=True)]
        return [*pairs, ("+Inf", float(self.count))]


@dataclass(frozen=True)
class RunStats:
    """One consistent read of the run and webhook figures."""

    runs_by_status: dict[str, int]
    queue_wait: HistogramData
    duration_by_status: dict[str, HistogramData]
    deliveries_by_outcome: dict[str, int]


def _seconds_between(dialect: str, start: Any, end: Any) -> ColumnElement[float]:
    if dialect == "postgresql":
        # float8, not numeric: aggregating floats is several times cheaper.
        return cast(extract("epoch", end - start), Float)
    # SQLite keeps UTC timestamps as text; julianday() turns them into fractional days.
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def _histogram_of(seconds: Any) -> list[ColumnElement[Any]]:
    """Aggregates that compute a whole histogram in one pass: the rows never leave the DB."""
    buckets = [func.count().filter(seconds <= b) for b in RUN_BUCKETS]
    return [*buckets, func.count(), func.coalesce(func.sum(seconds), 0.0)]


def _histogram(row: Sequence[Any]) -> HistogramData:
    n = len(RUN_BUCKETS)
    return HistogramData(
        buckets=tuple(int(v) for v in row[:n]), count=int(row[n]), total=float(row[n + 1])
    )


def _durations(dialect: str, start: Any, end: Any) -> Subquery:
    """(status, seconds) of the runs that have both times, each difference computed once.

    OFFSET 0 keeps the planner from inlining the subquery, which would recompute the
    difference once per bucket (measured on PostgreSQL: about 5x slower).
    """
    seconds = _seconds_between(dialect, start, end).label("seconds")
    query = select(Run.status, seconds).where(start.is_not(None), end.is_not(None)).offset(0)
    return query.subquery()


async def read_run_stats(conn: AsyncConnection) -> RunStats:
    """Aggregate the runs (and webhook deliveries, once that table exists) in a few queries."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        await conn.execute(text(f"SET LOCAL statement_timeout = {int(QUERY_TIMEOUT_SECONDS)}000"))

    by_status = dict.fromkeys(states.ALL, 0)
    for status, count in await conn.execute(select(Run.status, func.count()).group_by(Run.status)):
        by_status[status] = int(count)

    waits = _durations(dialect, Run.created_at, Run.started_at)
    row = (await conn.execute(select(*_histogram_of(waits.c.seconds)))).one()
    queue_wait = _histogram(row)

    ran = _durations(dialect, Run.started_at, Run.finished_at)
    empty = HistogramData((0,) * len(RUN_BUCKETS), 0, 0.0)
    durations = dict.fromkeys(sorted(states.TERMINAL), empty)
    result = await conn.execute(
        select(ran.c.status, *_histogram_of(ran.c.seconds)).group_by(ran.c.status)
    )
    for status, *values in result:
        durations[status] = _histogram(values)

    return RunStats(by_status, queue_wait, durations, await read_deliveries(conn))


async def read_deliveries(conn: AsyncConnection) -> dict[str, int]:
    """Webhook attempts by their recorded `outcome`; zeros while that table does not exist."""
    outcomes = dict.fromkeys(DELIVERY_OUTCOMES, 0)

    def columns(sync_conn: Any) -> set[str]:
        inspector = inspect(sync_conn)
        if not inspector.has_table(DELIVERIES_TABLE):
            return set()
        return {c["name"] for c in inspector.get_columns(DELIVERIES_TABLE)}

    if "outcome" not in await conn.run_sync(columns):
        return outcomes
    query = text(
        f"SELECT outcome, COUNT(*) FROM {DELIVERIES_TABLE} GROUP BY outcome "
        f"ORDER BY outcome LIMIT {MAX_OUTCOMES}"
    )
    try:
        async with conn.begin_nested():
            for outcome, count in await conn.execute(query):
                outcomes[str(outcome)] = int(count)
    except SQLAlchemyError as exc:
        log.warning("metrics: cannot read %s: %s", DELIVERIES_TABLE, type(exc).__name__)
    return outcomes


@dataclass(eq=False)  # registries key collectors by identity
class RunStatsCollector:
    """Serves the latest database snapshot to the registry; `refresh` reads a new one."""

    database_ok: bool = False
    stats: RunStats | None = None
    read_at: float = float("-inf")
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def refresh(self, database: Database) -> None:
        async with self.lock:
            if time.monotonic() - self.read_at < SNAPSHOT_TTL_SECONDS:
                return
            try:
                async with asyncio.timeout(QUERY_TIMEOUT_SECONDS):
                    async with database.engine.connect() as conn, conn.begin():
                        self.stats = await read_run_stats(conn)
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
        stats = self.stats
        if stats is not None:
            for status, count in stats.runs_by_status.items():
                runs.add_metric([status], float(count))
            wait.add_metric([], stats.queue_wait.samples(), stats.queue_wait.total)
            for status, hist in stats.duration_by_status.items():
                duration.add_metric([status], hist.samples(), hist.total)
            for outcome, count in stats.deliveries_by_outcome.items():
                deliveries.add_metric([outcome], float(count))
        return [up, runs, wait, duration, deliveries]


@dataclass
class Metrics:
    """This process's registry: request metrics, process metrics and the database collector."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    runs: RunStatsCollector = field(default_factory=RunStatsCollector)
    http: HttpMetrics = field(init=False)

    def __post_init__(self) -> None:
        self.http = HttpMetrics(self.registry)
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR, self.runs):
            self.registry.register(collector)


@router.get("/metrics", response_class=Response, dependencies=[Depends(metrics_access)])
async def metrics(request: Request) -> Response:
    """Prometheus text; HTTP Basic with METRICS_BASIC_AUTH (required in production)."""
    state: Metrics = request.app.state.metrics
    await state.runs.refresh(request.app.state.db)
    return Response(generate_latest(state.registry), media_type=CONTENT_TYPE_LATEST)
