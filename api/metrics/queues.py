"""The broker's view: messages waiting in each Celery queue, read at most every 2 s.

One passive `queue_declare` per queue through kombu answers on every broker Parley runs on:
on Redis it is the LLEN of the queue's list (kombu sums its priority lists), on the embedded
SQLite broker the count of visible `kombu_message` rows of the queue, on RabbitMQ the
`message_count` of the broker's reply. A queue the broker does not know (a Redis list that was
never written or was emptied) has no messages. The read runs in a thread under a timeout, and a
broker that is down only turns `parley_metrics_broker_up` to 0: the scrape never fails for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from kombu.exceptions import ChannelError
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from shared.queues import QUEUES

log = logging.getLogger(__name__)

SNAPSHOT_TTL_SECONDS = 2.0
READ_TIMEOUT_SECONDS = 3.0


def read_depths() -> dict[str, int]:
    """Messages waiting in each of Parley's queues (blocking: call it in a thread)."""
    from shared.celery_app import celery_app

    depths: dict[str, int] = {}
    with celery_app.connection_for_read() as connection:
        connection.ensure_connection(max_retries=1, timeout=READ_TIMEOUT_SECONDS)
        for queue in QUEUES:
            # A channel per queue: a passive declare of an unknown queue closes its channel
            # on RabbitMQ.
            channel = connection.channel()
            try:
                _, count, _ = channel.queue_declare(queue=queue, passive=True)
                depths[queue] = int(count)
            except ChannelError:
                depths[queue] = 0
            finally:
                channel.close()
    return depths


@dataclass(eq=False)  # registries key collectors by identity
class QueueDepthCollector:
    """Serves the latest queue depths to the registry; `refresh` reads new ones."""

    broker_ok: bool = False
    depths: dict[str, int] = field(default_factory=dict)
    read_at: float = float("-inf")
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # A read that outlived its timeout keeps its thread; no second one starts meanwhile.
    pending: asyncio.Future[dict[str, int]] | None = None

    async def refresh(self) -> None:
        async with self.lock:
            if time.monotonic() - self.read_at < SNAPSHOT_TTL_SECONDS:
                return
            if self.pending is None or self.pending.done():
                self.pending = asyncio.ensure_future(asyncio.to_thread(read_depths))
            try:
                self.depths = await asyncio.wait_for(
                    asyncio.shield(self.pending), READ_TIMEOUT_SECONDS
                )
                self.broker_ok = True
            except Exception as exc:  # any broker failure: report it, never fail the scrape
                log.warning("metrics: broker queue read failed: %s", type(exc).__name__)
                self.depths, self.broker_ok = {}, False
            self.read_at = time.monotonic()

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "parley_metrics_broker_up", "1 if the queue depths below could be read from the broker."
        )
        up.add_metric([], 1.0 if self.broker_ok else 0.0)
        depth = GaugeMetricFamily(
            "parley_queue_depth",
            "Messages waiting in each Celery queue of the broker (not yet taken by a worker).",
            labels=["queue"],
        )
        for queue, count in self.depths.items():
            depth.add_metric([queue], float(count))
        return [up, depth]
