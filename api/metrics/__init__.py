"""Prometheus metrics: request figures of this process, run figures read from the database.

Request counts and latencies live in this process (`api.metrics.http`). Run and webhook figures
span processes (the API does not see what workers do), so they are computed at scrape time with
aggregate SQL and exposed through a custom collector (`api.metrics.collector`); queue depths
are read from the broker the same way (`api.metrics.queues`). What happens inside a turn
(model and tool calls) is each worker process's own metrics (`worker.metrics`). No label
carries user data.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    generate_latest,
)

from api.metrics.collector import RunStatsCollector
from api.metrics.http import HttpMetrics
from api.metrics.queues import QueueDepthCollector
from api.security import metrics_access

router = APIRouter(tags=["operations"])


@dataclass
class Metrics:
    """This process's registry: request metrics, process metrics and the database collector."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    runs: RunStatsCollector = field(default_factory=RunStatsCollector)
    queues: QueueDepthCollector = field(default_factory=QueueDepthCollector)
    http: HttpMetrics = field(init=False)

    def __post_init__(self) -> None:
        self.http = HttpMetrics(self.registry)
        collectors = (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR, self.runs, self.queues)
        for collector in collectors:
            self.registry.register(collector)


@router.get("/metrics", response_class=Response, dependencies=[Depends(metrics_access)])
async def metrics(request: Request) -> Response:
    """Prometheus text; HTTP Basic with METRICS_BASIC_AUTH (required in production)."""
    state: Metrics = request.app.state.metrics
    await asyncio.gather(state.runs.refresh(request.app.state.db), state.queues.refresh())
    return Response(generate_latest(state.registry), media_type=CONTENT_TYPE_LATEST)
