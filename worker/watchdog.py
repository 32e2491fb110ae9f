"""Restart a worker whose Celery consumer cannot recover from a broker restart.

Celery/kombu workers can stay alive but stop consuming after Redis restarts (celery #4453,
#8030, #9054; reproduced here by tests/chaos): the consumer's reconnect dies ("Error on
stopping Hub"), and a restarted Redis has lost kombu's exchange bindings, so publishes from
processes that cached their declarations vanish until some consumer declares the queues again.
The watchdog re-executes the worker process when Redis's run_id changes (after letting turns
in flight finish, up to a bound) or when the consumer is visibly stalled (messages wait, free
threads, nothing received). The fresh consumer re-declares queues and bindings; turns cut
short keep their leases and the sweeper re-dispatches them, exactly-once via the tool ledger.

With RabbitMQ as the broker none of that applies: py-amqp's consumer reconnects and re-declares
its queues itself (tests/chaos restarts RabbitMQ mid-load), queues and messages are durable, and
a Redis restart there only touches the event bus. Watching Redis's run_id would then restart
workers for nothing, so only the last resort stays: restart on Celery's "Unrecoverable error".
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import Any

import redis
from celery.signals import task_postrun, task_prerun, task_received, worker_ready

from shared.celery_app import QUEUES, celery_app
from shared.config import get_settings

log = logging.getLogger(__name__)

CHECK_SECONDS = 10.0
STALL_SECONDS = 30.0
STALL_CHECKS = 2  # consecutive checks that must agree before restarting
DRAIN_SECONDS = 30.0  # how long turns in flight may finish before a restart


class ConsumerWatchdog:
    """Tracks what the consumer receives and runs; re-execs the worker when it stalls."""

    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self.last_received = time.monotonic()
        self.active = 0
        self._lock = threading.Lock()

    def received(self) -> None:
        self.last_received = time.monotonic()

    def started(self) -> None:
        with self._lock:
            self.active += 1

    def finished(self) -> None:
        with self._lock:
            self.active = max(0, self.active - 1)

    def stalled(self, waiting: int) -> bool:
        idle_for = time.monotonic() - self.last_received
        return waiting > 0 and self.active < self.concurrency and idle_for > STALL_SECONDS

    def run(self, redis_url: str) -> None:
        """Poll the Redis broker: its run_id (a restart) and its queue lengths (a stall)."""
        client = redis.Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=3)
        broker_run_id: str | None = None
        strikes = 0
        while True:
            time.sleep(CHECK_SECONDS)
            try:
                run_id = str(client.info("server")["run_id"])
                waiting = sum(int(client.llen(queue)) for queue in QUEUES)
            except redis.RedisError:
                strikes = 0  # the broker is down: nothing to judge yet
                continue
            if broker_run_id is not None and run_id != broker_run_id:
                log.warning("the broker restarted; restarting this worker once turns drain")
                self._drain()
                self._restart()
            broker_run_id = run_id
            strikes = strikes + 1 if self.stalled(waiting) else 0
            if strikes >= STALL_CHECKS:
                log.error(
                    "consumer stalled: %d messages waiting, nothing received for %.0f s",
                    waiting,
                    time.monotonic() - self.last_received,
                )
                self._restart()

    def _drain(self) -> None:
        deadline = time.monotonic() + DRAIN_SECONDS
        while self.active > 0 and time.monotonic() < deadline:
            time.sleep(0.5)

    def _restart(self) -> None:
        log.warning("re-executing the worker process (%d turns in flight)", self.active)
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os.execv(sys.executable, [sys.executable, *sys.argv])


_watchdog: ConsumerWatchdog | None = None
_restarting = threading.Lock()


class _UnrecoverableErrorHandler(logging.Handler):
    """Celery gives up on a lost broker with a CRITICAL "Unrecoverable error" and then hangs
    in shutdown; restart the process instead (after letting turns in flight finish)."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.CRITICAL and _watchdog is not None:
            # Not a daemon: Celery's shutdown ends the main thread meanwhile, and interpreter
            # finalisation would freeze a daemon thread before it restarts the process.
            threading.Thread(target=_drain_and_restart, name="parley-restart").start()


def _drain_and_restart() -> None:
    if _watchdog is None or not _restarting.acquire(blocking=False):
        return
    _watchdog._drain()
    _watchdog._restart()


@worker_ready.connect  # type: ignore[untyped-decorator]
def _start(sender: Any = None, **_: Any) -> None:
    global _watchdog
    broker = get_settings().broker_url
    if broker.startswith("sqla+"):
        return  # the embedded broker lives in a local file: no broker restarts to survive
    concurrency = int(getattr(sender, "concurrency", 0) or celery_app.conf.worker_concurrency or 1)
    _watchdog = ConsumerWatchdog(concurrency)
    logging.getLogger("celery.worker").addHandler(_UnrecoverableErrorHandler())
    if broker.startswith(("redis://", "rediss://")):
        threading.Thread(
            target=_watchdog.run, args=(broker,), name="parley-watchdog", daemon=True
        ).start()


@task_received.connect  # type: ignore[untyped-decorator]
def _on_received(**_: Any) -> None:
    if _watchdog is not None:
        _watchdog.received()


@task_prerun.connect  # type: ignore[untyped-decorator]
def _on_prerun(**_: Any) -> None:
    if _watchdog is not None:
        _watchdog.started()


@task_postrun.connect  # type: ignore[untyped-decorator]
def _on_postrun(**_: Any) -> None:
    if _watchdog is not None:
        _watchdog.finished()
