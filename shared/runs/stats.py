"""Run figures for /metrics: counts and time histograms aggregated inside the database.

The API does not see what workers do, so these are read at scrape time with aggregate SQL; the
rows never leave the database, and no figure carries user data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Float, Subquery, cast, extract, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.runs import states
from shared.runs.models import Run

RUN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)


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
    """One consistent read of the run figures."""

    runs_by_status: dict[str, int]
    queue_wait: HistogramData
    duration_by_status: dict[str, HistogramData]


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
    """Aggregate the runs in three queries: counts by status, queue wait, run duration."""
    dialect = conn.dialect.name
    by_status: dict[str, int] = {str(s): 0 for s in states.ALL}
    for status, count in await conn.execute(select(Run.status, func.count()).group_by(Run.status)):
        by_status[status] = int(count)

    waits = _durations(dialect, Run.created_at, Run.started_at)
    row = (await conn.execute(select(*_histogram_of(waits.c.seconds)))).one()
    queue_wait = _histogram(row)

    ran = _durations(dialect, Run.started_at, Run.finished_at)
    empty = HistogramData((0,) * len(RUN_BUCKETS), 0, 0.0)
    durations: dict[str, HistogramData] = {str(s): empty for s in sorted(states.TERMINAL)}
    result = await conn.execute(
        select(ran.c.status, *_histogram_of(ran.c.seconds)).group_by(ran.c.status)
    )
    for status, *values in result:
        durations[status] = _histogram(values)

    return RunStats(by_status, queue_wait, durations)
