"""The system under test: a Parley stack of one tier, and the fake LLM in a process of its own.

The fake LLM runs as a separate process because in the benchmark's own process it would share
the client's GIL and slow both down. The stack reuses tests/stack.py, with the worker started as
the Procfile starts it (`--concurrency 200`) and Parley's production defaults for the lease and
sweeper timings (the test defaults are tuned for fast failure detection, not for speed).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.procs import STARTUP_TIMEOUT, STOP_TIMEOUT, Background
from fakellm import FakeLLM
from tests.stack import (
    REDIS_URL,
    Proc,
    RedisServer,
    Stack,
    create_postgres_database,
    drop_postgres_database,
    flush_redis,
    free_port,
)

__all__ = [
    "Background",
    "BenchStack",
    "build_stack",
    "launch_fake_llm",
    "start_fake_llm",
    "teardown_stack",
    "wait_fake_llm",
]

log = logging.getLogger(__name__)

WORKER_CONCURRENCY = 200  # the Procfile's default (WORKER_CONCURRENCY)
PRODUCTION_TIMINGS = {
    "AGENT_MAX_STEPS": "8",
    "RUN_LEASE_SECONDS": "30",
    "SWEEP_INTERVAL_SECONDS": "10",
    "RUN_REDISPATCH_SECONDS": "60",
    "RUN_TIMEOUT_SECONDS": "300",
    # One bench user submits hundreds of turns a minute; the per-user limit would answer 429.
    "RATE_LIMIT_RUNS_PER_MINUTE": "0",
    # The burst is one user's 200 turns at once: the per-user cap on turns in progress (20 by
    # default, for fairness between users) would run them in waves of 20.
    "MAX_ACTIVE_RUNS_PER_USER": "0",
}


def launch_fake_llm(workdir: Path) -> tuple[Background, FakeLLM]:
    """Start `python -m fakellm` on a free port without waiting for it (see wait_fake_llm).

    The FakeLLM returned is never started: it only names the URL (Stack reads its `base_url`).
    """
    port = free_port()
    proc = Background(
        "fakellm",
        [sys.executable, "-m", "fakellm", "--port", str(port), "--latency", "0"],
        workdir / "fakellm.log",
    ).start()
    return proc, FakeLLM(port=port)


def wait_fake_llm(proc: Background, handle: FakeLLM) -> None:
    """Return once the fake LLM answers; stop it and raise if it does not."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        try:
            if httpx.get(f"{handle.base_url}/models", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if not proc.alive() or time.monotonic() > deadline:
            proc.stop()
            raise RuntimeError(f"fake LLM did not start:\n{proc.log_tail()}")
        time.sleep(0.05)


def start_fake_llm(workdir: Path) -> tuple[Background, FakeLLM]:
    """The fake LLM in its own process, ready to answer."""
    proc, handle = launch_fake_llm(workdir)
    wait_fake_llm(proc, handle)
    return proc, handle


@dataclass
class BenchStack(Stack):
    """A Stack whose worker runs like the Procfile's (`--concurrency 200`, threads pool)."""

    extra_env: dict[str, str] = field(default_factory=lambda: dict(PRODUCTION_TIMINGS))

    def start_worker(self, name: str = "worker", concurrency: int = WORKER_CONCURRENCY) -> Proc:
        return super().start_worker(name, concurrency)

    def stop(self) -> None:
        """SIGTERM every process at once, then wait (SIGKILL stragglers): faster than in turn."""
        popens = [p.popen for p in self.procs.values() if p.popen is not None]
        self.procs.clear()
        for popen in popens:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGTERM)
        for popen in popens:
            try:
                popen.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(popen.pid, signal.SIGKILL)
                popen.wait(timeout=10)

    def pid(self, role: str) -> int:
        """The process id of `api` (uvicorn), `worker` or `beat`."""
        popen = self.procs["web" if role == "api" else role].popen
        assert popen is not None
        return popen.pid


def build_stack(tier: str, workdir: Path, llm: FakeLLM) -> BenchStack:
    """A stack on a fresh database (and private Redis) of the tier; not started yet."""
    if tier == "embedded":
        return BenchStack(tier, workdir, f"sqlite:///{workdir / 'parley.db'}", None, llm)
    if REDIS_URL is not None:
        flush_redis(REDIS_URL)
        redis_url, redis_server = REDIS_URL, None
    else:
        redis_server = RedisServer(workdir).start()
        redis_url = redis_server.url
    try:
        database_url = create_postgres_database()
    except Exception:
        if redis_server is not None:
            redis_server.stop()
        raise
    stack = BenchStack(tier, workdir, database_url, redis_url, llm)
    stack.redis_server = redis_server
    return stack


def teardown_stack(stack: BenchStack) -> None:
    """Stop every process of the stack and drop what it created, whatever fails on the way."""
    try:
        stack.stop()
    finally:
        try:
            if stack.tier == "services":
                drop_postgres_database(stack.database_url)
        finally:
            if stack.redis_server is not None:
                stack.redis_server.stop()
