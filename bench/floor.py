"""The Celery floor: a bare no-op `delay().get()` round trip on the broker Parley uses.

A throwaway app on the same broker (Redis, or the embedded SQLite broker), with a result
backend so the caller can wait: Redis results for the services tier (pushed over pub/sub),
a `db+sqlite` file for the embedded tier (polled every RESULT_POLL_SECONDS). Its worker runs
in the stack's environment and copies the broker settings of Parley's own Celery app
(shared/celery_app.py), with the same pool and prefetch, so whatever Parley's broker
configuration does to pickup latency, the floor does too, and the ratio isolates Parley.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from celery import Celery

from bench.procs import Background
from shared.config import Settings

QUEUE = "bench-floor"
TASK = "bench.noop"
BACKEND_ENV = "BENCH_FLOOR_BACKEND"
# How often `get()` polls a database result backend (Celery's default is 0.5 s, which would
# measure the poll, not the round trip; Redis results are pushed and ignore this).
RESULT_POLL_SECONDS = 0.005
GET_TIMEOUT = 30.0
# Parley settings that shape a message's trip through the broker and the worker.
COPIED_WORKER_SETTINGS = ("task_acks_late", "worker_prefetch_multiplier")


def noop() -> None:
    """Does nothing: the round trip is all there is to measure."""


def make_app(broker: str, backend: str, broker_settings: Mapping[str, Any]) -> Celery:
    """The floor's Celery app on `broker`, with `broker_settings` (`broker_*` and the like)."""
    app = Celery("bench-floor", broker=broker, backend=backend)
    engine_options: dict[str, Any] = {}
    if backend.startswith("db+sqlite"):
        engine_options["connect_args"] = {"timeout": 30, "check_same_thread": False}
    app.conf.update(
        {k: v for k, v in broker_settings.items() if k != "broker_url"},
        task_default_queue=QUEUE,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        database_engine_options=engine_options,
        worker_hijack_root_logger=False,
    )
    app.task(name=TASK)(noop)
    return app


def parley_broker_settings(parley: Celery) -> dict[str, Any]:
    """The broker and delivery settings Parley's app sets explicitly (its worker uses them)."""
    changes: Mapping[str, Any] = parley.conf.changes
    return {
        k: v for k, v in changes.items() if k.startswith("broker_") or k in COPIED_WORKER_SETTINGS
    }


def client_broker_settings(broker: str) -> dict[str, Any]:
    """What a publisher needs to reach the broker (the embedded one's SQLite options)."""
    if broker.startswith("sqla+sqlite"):
        return {
            "broker_transport_options": {
                "connect_args": {"timeout": 30, "check_same_thread": False}
            }
        }
    return {}


def urls(tier: str, database_url: str, redis_url: str | None, workdir: Path) -> tuple[str, str]:
    """(broker, result backend) for the tier: Parley's own broker, plus somewhere for results."""
    if tier == "services":
        assert redis_url is not None
        return redis_url, redis_url
    broker = Settings(database_url=database_url, redis_url=None).broker_url
    return broker, f"db+sqlite:///{workdir / 'bench-floor-results.sqlite'}"


def start_worker(stack_env: Mapping[str, str], backend: str, workdir: Path) -> Background:
    """A Celery worker for the floor app, in the stack's environment, threads pool."""
    env = {**stack_env, BACKEND_ENV: backend}
    celery = str(Path(sys.executable).parent / "celery")
    proc = Background(
        "floor-worker",
        [
            celery,
            "-A",
            "bench.floor_worker",
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            "2",
            "--prefetch-multiplier",
            "1",
            "-Q",
            QUEUE,
            "--loglevel",
            "INFO",
            "--without-mingle",
            "--without-gossip",
            "--hostname",
            f"bench-floor-{os.getpid()}@%h",
        ],
        workdir / "floor-worker.log",
        env,
    ).start()
    try:
        proc.wait_for_log("ready.")
    except BaseException:
        proc.stop()
        raise
    return proc


def measure(app: Celery, samples: int, warmup: int) -> list[float]:
    """Seconds per sequential no-op round trip (publish, execute, result seen)."""
    task = app.tasks[TASK]
    durations: list[float] = []
    for i in range(warmup + samples):
        started = time.perf_counter()
        task.delay().get(timeout=GET_TIMEOUT, interval=RESULT_POLL_SECONDS)
        if i >= warmup:
            durations.append(time.perf_counter() - started)
    return durations


@contextmanager
def running(
    tier: str, database_url: str, redis_url: str | None, env: Mapping[str, str], workdir: Path
) -> Iterator[Celery]:
    """The floor's app with its worker up, on the stack's broker; stops the worker after."""
    broker, backend = urls(tier, database_url, redis_url, workdir)
    app = make_app(broker, backend, client_broker_settings(broker))
    worker: Background | None = None
    try:
        if backend.startswith("db+"):
            # Create the result tables before the worker could race us to it.
            app.backend.ResultSession().close()
        worker = start_worker(env, backend, workdir)
        yield app
    finally:
        if worker is not None:
            # A throwaway with nothing in flight: even its cold shutdown takes ~4 s here.
            worker.stop(signal.SIGKILL)
        app.close()
